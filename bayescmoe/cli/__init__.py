"""The command layer: the ``bayescmoe`` command, the ``models/`` scripts' runner and the analyses' entry points.

It may import every layer below it (model, inference, results, diagnostics, studies, plots); it is
the only layer that both runs a computation and draws or writes its outputs.
"""

from bayescmoe.cli.args import OneLineParser, add_run_arguments, fit_options, guarded
from bayescmoe.cli.main import main, report_run, run_script

__all__ = ["OneLineParser", "add_run_arguments", "fit_options", "guarded", "main", "report_run", "run_script"]
