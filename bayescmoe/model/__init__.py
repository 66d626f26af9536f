"""The model layer: what a contaminated mixture of experts is, its likelihood, its NumPyro model and its simulator.

``spec`` (the frozen expert, the prompt, the gate and the priors; the model's inputs), ``experts``
and ``families`` (mean functions and frozen densities), ``likelihood`` (the log-likelihood in log
space), ``params`` (priors, the unconstrained scale, the log posterior, parameter labels),
``numpyro_model`` (the NumPyro model :func:`model`: priors, then y observed through
:class:`ContaminatedMoE`), ``simulate``, ``truth`` (true parameters that move with n) and
``settings`` (the papers' named cells, and settings from TOML files). Imports only the foundations.
"""

from bayescmoe.model.likelihood import log_likelihood, summed_log_likelihood
from bayescmoe.model.numpyro_model import ContaminatedMoE, model
from bayescmoe.model.params import (
    constrain,
    flat_labels,
    log_posterior,
    log_prior,
    prior_distributions,
    unconstrain,
)
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
    "constrain",
    "flat_labels",
    "get_setting",
    "input_columns",
    "log_likelihood",
    "log_posterior",
    "log_prior",
    "merging_prompt",
    "model",
    "model_inputs",
    "prior_distributions",
    "sample_x",
    "simulate",
    "summed_log_likelihood",
    "unconstrain",
    "vanishing_weight",
]
