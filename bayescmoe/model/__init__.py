"""The model layer: what a contaminated mixture of experts is, its likelihood, its NumPyro model and its simulator.

``spec`` (the frozen expert, the prompt, the gate and the priors), ``experts`` and ``families``
(mean functions and frozen densities), ``likelihood`` (PAPERS.md section 1 in log space),
``numpyro_model`` (priors, then y observed through :class:`ContaminatedMoE`), ``simulate``,
``truth`` (true parameters that move with n) and ``settings`` (the papers' named cells).
Imports only :mod:`bayescmoe.errors`.
"""

from bayescmoe.model.likelihood import log_likelihood, summed_log_likelihood
from bayescmoe.model.numpyro_model import ContaminatedMoE
from bayescmoe.model.params import prior_distributions
from bayescmoe.model.priors import Prior
from bayescmoe.model.settings import SETTINGS, Setting, get_setting
from bayescmoe.model.simulate import sample_x, simulate
from bayescmoe.model.spec import (
    GIVEN,
    FrozenExpert,
    ModelSpec,
    PromptExpert,
    check_data,
    check_params,
    input_columns,
    model_inputs,
)
from bayescmoe.model.truth import Rate, Truth, merging_prompt, vanishing_weight

__all__ = [
    "GIVEN",
    "SETTINGS",
    "ContaminatedMoE",
    "FrozenExpert",
    "ModelSpec",
    "Prior",
    "PromptExpert",
    "Rate",
    "Setting",
    "Truth",
    "check_data",
    "check_params",
    "get_setting",
    "input_columns",
    "log_likelihood",
    "merging_prompt",
    "model_inputs",
    "prior_distributions",
    "sample_x",
    "simulate",
    "summed_log_likelihood",
    "vanishing_weight",
]
