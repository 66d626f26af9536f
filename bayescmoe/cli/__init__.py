"""The command layer: the ``bayescmoe`` command, the ``models/`` scripts' runner and the analyses' entry points.

It may import every layer below it (model, inference, results, diagnostics, studies, plots); it is
the only layer that both runs a computation and draws or writes its outputs.
"""

from bayescmoe.cli.args import (
    OneLineParser,
    add_cluster_arguments,
    add_output_arguments,
    add_run_arguments,
    cluster_of,
    fit_options,
    guarded,
    parse_checked,
    sizes,
)
from bayescmoe.cli.main import main, report_run, run_script

__all__ = [
    "OneLineParser",
    "add_cluster_arguments",
    "add_output_arguments",
    "add_run_arguments",
    "cluster_of",
    "fit_options",
    "guarded",
    "main",
    "parse_checked",
    "report_run",
    "run_script",
    "sizes",
]
