"""The parameters of a spec: their priors, their unconstrained scale, the log posterior, and their labels.

Parameters travel as dicts keyed by :attr:`~bayescmoe.model.spec.ModelSpec.param_names` (natural
scale theta: lam in [0, 1] (on the simplex for K >= 2 prompts), nu > 0, the rest real). Samplers and
optimisers work on the unconstrained scale u = T^-1(theta), T the bijection onto each parameter's
support (logit lam, log nu, the identity otherwise; stick-breaking for the weights of K >= 2
prompts and NumPyro's ordered transforms under an ordering constraint: :func:`constrain`,
:func:`unconstrain`). The flattened natural vector is ordered by sorted name, arrays expanded in
row-major order (:func:`flat_labels`), and a scalar is labelled as ``az.summary`` labels it,
``a[0]``, or ``a[1, 0]`` with K >= 2 prompts (:func:`by_label`, :func:`name_of`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.transforms import Transform, biject_to

from bayescmoe.model.likelihood import summed_log_likelihood
from bayescmoe.model.priors import SUPPORTS
from bayescmoe.model.spec import FEATURE_PARAMS, ModelSpec

Array = jax.Array
#: parameters by name, natural or unconstrained
Params = dict[str, Array]
#: a weight exactly at 0 or 1 (a start at lam* = 0) is moved this far inside before its logit
BOUNDARY_NUDGE = 1e-6


def bijection(spec: ModelSpec, name: str) -> Transform:
    """T for parameter ``name``: the unconstrained scale onto its support."""
    return biject_to(SUPPORTS[spec.support(name)])


def prior_distributions(spec: ModelSpec) -> dict[str, dist.Distribution]:
    """The prior distribution of each trainable parameter, keyed by name."""
    return {name: spec.prior(name).distribution(spec.support(name), spec.shape(name)) for name in spec.param_names}


def constrain(spec: ModelSpec, u: Mapping[str, Array]) -> Params:
    """Natural parameters theta = T(u)."""
    return {k: bijection(spec, k)(v) for k, v in u.items()}


def unconstrain(spec: ModelSpec, params: Mapping[str, Array]) -> Params:
    """u = T^-1(theta) of a point or of draws (any leading axes); a weight exactly at 0 or 1 is first
    moved :data:`BOUNDARY_NUDGE` inside, so that a start at lam* = 0 has a finite logit (on the simplex:
    each weight to at least the nudge, the frozen expert's too)."""
    out = {}
    for k, v in params.items():
        v = jnp.asarray(v, dtype=float)
        if spec.support(k) == "unit":
            v = jnp.where(v <= 0.0, BOUNDARY_NUDGE, jnp.where(v >= 1.0, 1.0 - BOUNDARY_NUDGE, v))
        if spec.support(k) == "simplex":
            v = jnp.maximum(v, BOUNDARY_NUDGE)
            total = jnp.sum(v, -1, keepdims=True)
            v = jnp.where(total > 1.0 - BOUNDARY_NUDGE, v * (1.0 - BOUNDARY_NUDGE) / total, v)
        out[k] = bijection(spec, k).inv(v)
    return out


def log_prior(spec: ModelSpec, params: Mapping[str, Array]) -> Array:
    """sum over parameters of log prior(theta), in the natural parametrisation."""
    return sum(jnp.sum(d.log_prob(params[k])) for k, d in prior_distributions(spec).items())


def log_posterior(
    spec: ModelSpec,
    params: Mapping[str, Array],
    inputs: Array,
    y: Array,
    mask: Array | None = None,
    log_f0: Array | None = None,
    block_rows: int | None = None,
) -> Array:
    """Unnormalised log posterior in natural parameters (the log-likelihood under flat priors).

    ``mask`` (0/1 per row) drops padded rows: sweeps pad n to a few sizes to avoid recompiling.
    ``log_f0``: the frozen expert's log-density of (inputs, y), when computed already. The
    log-likelihood is :func:`~bayescmoe.model.likelihood.summed_log_likelihood` (in row blocks at large n).
    """
    return summed_log_likelihood(spec, params, inputs, y, mask, log_f0, block_rows) + log_prior(spec, params)


def flat_labels(spec: ModelSpec) -> tuple[str, ...]:
    """Names of the entries of the flattened natural parameter vector (``ravel_pytree`` order)."""
    return tuple(by_label({name: np.zeros(spec.shape(name)) for name in sorted(spec.param_names)}))


def by_label(
    values: Mapping[str, np.ndarray],
    lead: int = 0,
    features: Sequence[object] | None = None,
    classes: Sequence[object] | None = None,
) -> dict[str, np.ndarray]:
    """Split parameter arrays into scalars labelled as in ``az.summary`` (``a[0]``, ``a[1, 0]`` with K >= 2
    prompts, or ``a[bmi]`` with the feature coordinate ``features``; a categorical adapter's ``a[dog, bmi]`` and
    ``b[dog]`` with the class coordinate ``classes``), keeping ``lead`` axes."""
    out = {}
    for name, value in values.items():
        value = np.asarray(value)
        if value.ndim == lead:
            out[name] = value
            continue
        for index in np.ndindex(*value.shape[lead:]):
            parts = [str(i) for i in index]
            if features is not None and name in FEATURE_PARAMS:
                parts[-1] = str(features[index[-1]])
            if classes is not None and name in ("a", "b"):  # the class axis is a's second last, b's last
                at = -2 if name == "a" else -1
                parts[at] = str(classes[index[at]])
            out[f"{name}[{', '.join(parts)}]"] = value[(Ellipsis, *index)]
    return out


def name_of(label: str) -> str:
    """The parameter of a scalar label (``a[3]`` or ``a[bmi]`` -> ``a``)."""
    return label.split("[")[0]
