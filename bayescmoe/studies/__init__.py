"""The studies layer: many fits, stored resumably, and the statistics over them. No figures.

``store`` (one NetCDF dataset per study plus a write-ahead journal), ``engine`` (its cells in this
process or on a Dask cluster), ``sweep`` and ``protocols``
(the rate experiments), ``losses`` and ``slopes`` (errors and log-log rates), ``replicates``,
``coverage`` and ``contraction`` (full Bayes against the MLE and MAP), ``sbc`` (simulation-based
calibration), ``fisher_paths`` and ``collapse_paths`` (paths from identified to collapsed),
``singular`` (:func:`singular_report`: the learning coefficient, WBIC, WAIC and the evidence of one
result, from about 34 NUTS runs on power posteriors), ``singular_paths`` and ``singular_validation``,
``classify_shift`` (a pre-trained classifier on a shifted population; it needs scikit-learn).
Imports every layer below it: model, inference, results, diagnostics, workflow.
"""

from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.protocols import PROTOCOLS, Protocol, get_protocol
from bayescmoe.studies.replicates import StudyConfig, run_study
from bayescmoe.studies.sbc import SBCConfig, run_sbc
from bayescmoe.studies.singular import SingularReport, ladder_evidence, singular_report
from bayescmoe.studies.slopes import Slope, fit_slope, slope_table
from bayescmoe.studies.sweep import SweepConfig, run_sweep

__all__ = [
    "PROTOCOLS",
    "Cluster",
    "Protocol",
    "SBCConfig",
    "SingularReport",
    "Slope",
    "StudyConfig",
    "SweepConfig",
    "fit_slope",
    "get_protocol",
    "ladder_evidence",
    "run_sbc",
    "run_study",
    "run_sweep",
    "singular_report",
    "slope_table",
]
