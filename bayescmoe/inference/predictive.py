"""Draws ArviZ needs beside the posterior: prior and predictive draws (NumPyro's ``Predictive``),
the pointwise log-likelihood and the log prior of each posterior draw.

The observation site ``y`` of :func:`bayescmoe.model.numpyro_model.model` samples through
:class:`~bayescmoe.model.numpyro_model.ContaminatedMoE`, i.e. the simulator of
:mod:`bayescmoe.model.simulate`: a predictive draw is a data set of the model at those parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import numpy as np
from numpyro.infer import Predictive
from numpyro.infer import log_likelihood as numpyro_log_likelihood

from bayescmoe.model.numpyro_model import model
from bayescmoe.model.params import prior_distributions
from bayescmoe.model.spec import ModelSpec

Array = jax.Array


def proper_prior(spec: ModelSpec) -> bool:
    """Whether every prior can be sampled (no ``flat`` one)."""
    return all(spec.prior(name).family != "flat" for name in spec.param_names)


@partial(jax.jit, static_argnames=("spec", "num_samples"))
def _prior(spec: ModelSpec, inputs: Array, key: Array, num_samples: int) -> dict[str, Array]:
    return Predictive(partial(model, spec), num_samples=num_samples)(key, inputs)


@partial(jax.jit, static_argnames="spec")
def _posterior_predictive(spec: ModelSpec, inputs: Array, flat: Mapping[str, Array], key: Array) -> Array:
    return Predictive(partial(model, spec), posterior_samples=flat, return_sites=["y"])(key, inputs)["y"]


def prior_draws(spec: ModelSpec, inputs: Array, key: Array, num_samples: int) -> dict[str, np.ndarray]:
    """``num_samples`` draws of every parameter from its prior and of y given x (the prior predictive)."""
    return {k: np.asarray(v) for k, v in _prior(spec, inputs, key, num_samples).items()}


def posterior_predictive(spec: ModelSpec, inputs: Array, samples: Mapping[str, Array], key: Array) -> np.ndarray:
    """One simulated y per posterior draw; ``samples`` are (chain, draw, ...), the result (chain, draw, n)."""
    flat = {k: np.reshape(v, (-1, *np.shape(v)[2:])) for k, v in samples.items()}
    chains, draws = np.shape(next(iter(samples.values())))[:2]
    return np.asarray(_posterior_predictive(spec, inputs, flat, key)).reshape(chains, draws, -1)


def pointwise_log_likelihood(spec: ModelSpec, inputs: Array, y: Array, samples: Mapping[str, Array]) -> np.ndarray:
    """log p(y_i | x_i, theta) at each posterior draw (NumPyro's ``log_likelihood``): (chain, draw, n)."""
    return np.asarray(numpyro_log_likelihood(partial(model, spec), dict(samples), inputs, y, batch_ndims=2)["y"])


def log_prior_draws(spec: ModelSpec, samples: Mapping[str, Array]) -> dict[str, np.ndarray]:
    """log prior of each parameter at each draw (natural scale, as :func:`~bayescmoe.model.params.log_prior`)."""
    priors = prior_distributions(spec)
    return {k: np.asarray(priors[k].log_prob(np.asarray(v))) for k, v in samples.items() if k in priors}
