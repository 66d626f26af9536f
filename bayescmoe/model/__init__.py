"""The model layer: what a contaminated mixture of experts is, its likelihood, its NumPyro model and its simulator.

``spec`` (the frozen expert, the prompt, the gate and the priors; the model's inputs), ``experts``
and ``families`` (mean functions and frozen densities), ``likelihood`` (the log-likelihood in log
space), ``params`` (priors, the unconstrained scale, the log posterior, parameter labels),
``numpyro_model`` (the NumPyro model :func:`model`: priors, then y observed through
:class:`ContaminatedMoE`), ``simulate``, ``truth`` (true parameters that move with n) and
``settings`` (the papers' named cells, and settings from TOML files). Imports only the foundations.
"""

from bayescmoe.runtime import load_numpyro as _load_numpyro

_load_numpyro()  # before arviz can leave NumPyro a lazy stub (bayescmoe.runtime)

from bayescmoe.model.likelihood import class_log_probs, log_likelihood, summed_log_likelihood  # noqa: E402
from bayescmoe.model.numpyro_model import ContaminatedMoE, model  # noqa: E402
from bayescmoe.model.params import (  # noqa: E402
    constrain,
    flat_labels,
    log_posterior,
    log_prior,
    prior_distributions,
    unconstrain,
)
from bayescmoe.model.priors import Prior  # noqa: E402
from bayescmoe.model.settings import SETTINGS, Setting, get_setting  # noqa: E402
from bayescmoe.model.simulate import sample_x, simulate  # noqa: E402
from bayescmoe.model.spec import (  # noqa: E402
    GIVEN,
    FrozenExpert,
    ModelSpec,
    PromptExpert,
    check_data,
    check_params,
    input_columns,
    model_inputs,
)
from bayescmoe.model.truth import Rate, Truth, merging_prompt, vanishing_weight  # noqa: E402

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
    "class_log_probs",
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
