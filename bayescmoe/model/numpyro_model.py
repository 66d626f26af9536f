"""The NumPyro model: priors on the trainable parameters, then y observed through a distribution.

The observation site uses :class:`ContaminatedMoE`, whose ``log_prob`` is the one
:func:`~bayescmoe.model.likelihood.log_likelihood`, so NumPyro and ArviZ see a pointwise
log-likelihood (needed for LOO) and ``sample`` is the simulator. Samplers pass the frozen
expert's log-density of the observed y (``log_f0``), which does not depend on the parameters, and
at large n observe y through its summed log-likelihood instead (``summed``: one factor whose
gradient is taken in row blocks, :func:`~bayescmoe.model.likelihood.summed_log_likelihood`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayescmoe.errors import require
from bayescmoe.model.likelihood import log_likelihood, summed_log_likelihood
from bayescmoe.model.params import bijection, prior_distributions
from bayescmoe.model.simulate import sample_y
from bayescmoe.model.spec import ModelSpec

Array = jax.Array


class ContaminatedMoE(dist.Distribution):
    """p(y | x) of the contaminated MoE for fixed parameters; batch shape (n,).

    ``log_f0``: the frozen expert's log-density at the one value ``log_prob`` will be asked about
    (the observed y), or None to compute it from the value.
    """

    support = constraints.real

    def __init__(
        self,
        spec: ModelSpec,
        params: Mapping[str, Array],
        inputs: Array,
        log_f0: Array | None = None,
        *,
        validate_args: bool | None = None,
    ):
        self.spec, self.params, self.x, self.log_f0 = spec, dict(params), inputs, log_f0
        if spec.categorical:  # class codes 0..C-1 (held as floats, like every y)
            self.support = constraints.integer_interval(0, spec.classes - 1)
        super().__init__(batch_shape=inputs.shape[:1], validate_args=validate_args)

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        keys = jax.random.split(key, math.prod(sample_shape))
        draws = jax.vmap(lambda k: sample_y(k, self.spec, self.params, self.x))(keys)
        return draws.reshape(sample_shape + self.batch_shape)

    def log_prob(self, value: Array) -> Array:
        return log_likelihood(self.spec, self.params, self.x, value, self.log_f0)


def model(
    spec: ModelSpec, inputs: Array, y: Array | None = None, log_f0: Array | None = None, summed: bool = False
) -> None:
    """theta ~ priors; y_i | x_i ~ ContaminatedMoE(theta) for i = 1..n; ``log_f0``: log f0(y | x), given with y.

    ``summed``: the same posterior with y observed through :func:`observe`'s factor (no pointwise site).
    """
    require(log_f0 is None or y is not None, "log_f0", "is the frozen density of the observed y: give y too")
    params = {name: numpyro.sample(name, prior) for name, prior in prior_distributions(spec).items()}
    observe(spec, params, inputs, y, log_f0, summed)


def observe(
    spec: ModelSpec,
    params: Mapping[str, Array],
    inputs: Array,
    y: Array | None,
    log_f0: Array | None,
    summed: bool = False,
) -> None:
    """The observation site: y_i | x_i ~ ContaminatedMoE(params) for i = 1..n (observed when y is given).

    ``summed`` (y given): one factor ``y``, sum_i log p(y_i | x_i, params) by
    :func:`~bayescmoe.model.likelihood.summed_log_likelihood`, the same density for a sampler
    and cheaper to differentiate at large n; ArviZ's pointwise log-likelihood and ``Predictive``
    need the default.
    """
    if summed and y is not None:
        numpyro.factor("y", summed_log_likelihood(spec, params, inputs, y, log_f0=log_f0))
        return
    with numpyro.plate("obs", inputs.shape[0]):
        numpyro.sample("y", ContaminatedMoE(spec, params, inputs, log_f0), obs=y)


def localizer(spec: ModelSpec, center: Mapping[str, Array], gamma: Array) -> dict[str, dist.Distribution]:
    """N(center, 1/gamma) on each parameter's unconstrained scale u = T^-1(theta), as a distribution of theta.

    NUTS samples u, where this density is exactly Gaussian (the transform's Jacobian cancels): the
    localising prior of Lau et al. (2025), eq. (5), in the coordinates the samplers use.
    """
    out = {}
    for name in spec.param_names:
        base = dist.Normal(center[name], gamma**-0.5).to_event(len(spec.shape(name)))
        out[name] = dist.TransformedDistribution(base, bijection(spec, name))
    return out


def tempered_model(
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    log_f0: Array,
    power: Array,
    center: Mapping[str, Array] | None = None,
    gamma: Array | None = None,
    summed: bool = False,
) -> None:
    """The power posterior p_t(theta) ∝ pi(theta) prod_i p(y_i | x_i, theta)^t at ``power`` t (Watanabe 2013, eq. 4).

    pi is the spec's prior, or with ``center`` the localiser N(center, 1/gamma) on the unconstrained
    scale (:func:`localizer`). t = 1 and the spec's prior give :func:`model`'s posterior, t = 0
    the prior. ``summed``: as in :func:`model`.
    """
    priors = prior_distributions(spec) if center is None else localizer(spec, center, gamma)
    params = {name: numpyro.sample(name, prior) for name, prior in priors.items()}
    with numpyro.handlers.scale(scale=power):
        observe(spec, params, inputs, y, log_f0, summed)
