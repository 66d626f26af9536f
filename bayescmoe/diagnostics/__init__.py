"""The diagnostics layer: numbers about one fit or one truth, and the collapse verdict built on them.

``signals`` (:func:`diagnose`: ArviZ's sampler checks and the identifiability signals of a NUTS
result; :func:`sampler_warnings`: the checks Stan and ArviZ warn about), ``collapse``
(:func:`collapse_report`: identified, vanishing, merging, not needed or weakly identified; per prompt
and per pair of prompts with K >= 2), ``relabelling`` (:func:`relabel`: one labelling of the prompts in
every draw; :func:`prompt_overlap`: which prompts merged, where labels mean nothing),
``fisher`` (the Fisher information at a truth and its spectrum) and ``geometry`` (derived
quantities of the posterior near a merge), ``predictive`` (:func:`prompt_gain`: PSIS-LOO against
the frozen expert alone; :func:`savage_dickey_log_bf`: the Bayes factor of the same two models;
:func:`prompt_evidence`: is a prompt needed?; :func:`frozen_baseline`: f0 alone for ``az.compare``),
``singular`` (the estimators of the learning coefficient, WBIC, WAIC and the log evidence from
power-posterior draws). Imports the model, inference and results layers.
"""

from bayescmoe.diagnostics.collapse import CollapseReport, PromptsReport, collapse_report
from bayescmoe.diagnostics.fisher import Information, fisher_information, observed_fisher
from bayescmoe.diagnostics.geometry import geometry_table, posterior_quantities
from bayescmoe.diagnostics.predictive import (
    PromptGain,
    frozen_baseline,
    frozen_log_scores,
    prompt_evidence,
    prompt_gain,
    savage_dickey_log_bf,
)
from bayescmoe.diagnostics.relabelling import Overlap, prompt_overlap, relabel, relabelling_of
from bayescmoe.diagnostics.signals import FitDiagnostics, ParameterDiagnostics, diagnose, sampler_warnings

__all__ = [
    "CollapseReport",
    "FitDiagnostics",
    "Information",
    "Overlap",
    "ParameterDiagnostics",
    "PromptGain",
    "PromptsReport",
    "collapse_report",
    "diagnose",
    "fisher_information",
    "frozen_baseline",
    "frozen_log_scores",
    "geometry_table",
    "observed_fisher",
    "posterior_quantities",
    "prompt_evidence",
    "prompt_gain",
    "prompt_overlap",
    "relabel",
    "relabelling_of",
    "sampler_warnings",
    "savage_dickey_log_bf",
]
