"""Priors of the trainable parameters, as small immutable values turned into NumPyro distributions.

``flat`` is the improper uniform density on a parameter's natural scale, so the MAP under flat
priors is the MLE. Defaults are weakly informative: Beta(1, 1) for lambda (Dirichlet(1, ..., 1) on
the weights of K >= 2 prompts), Normal(0, 3) for real parameters, InverseGamma(2, nu0) for the
prompt variance (mean nu0, the frozen expert's). The inverse-gamma density vanishes fast at nu = 0,
which removes the degenerate spikes (nu -> 0 on a few points) that make a mixture likelihood
unbounded (Fraley and Raftery 2007).

Supports (docs/prompts.md): ``unit`` (one prompt's weight), ``simplex`` (the K >= 2
prompts' weights lam, with w0 = 1 - sum lam the frozen expert's: :data:`sub_simplex`), ``real``,
``positive``, and the ``ordered`` / ``positive_ordered`` vectors of an ordering constraint. A
``dirichlet`` prior takes one concentration (symmetric) or K + 1 of them, the frozen expert's first;
on one prompt's weight it is Beta(alpha_1, alpha_0). On an ordered vector an iid prior is restricted
to the ordered cone (:class:`OnSupport`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import StickBreakingTransform, Transform, biject_to

from bayescmoe.errors import BayescmoeError, require

Array = jax.Array


class _SubSimplex(constraints.Constraint):
    """Weights lam (K,) with lam_k > 0 and sum lam < 1: the prompts' weights, w0 = 1 - sum lam the rest."""

    event_dim = 1

    def __call__(self, x: Array) -> Array:
        return jnp.all(x > 0, axis=-1) & (jnp.sum(x, axis=-1) < 1)

    def feasible_like(self, prototype: Array) -> Array:
        return jnp.full_like(prototype, 1.0 / (prototype.shape[-1] + 1))


#: the prompts' weights of K >= 2 prompts (the frozen expert's is 1 - their sum)
sub_simplex = _SubSimplex()


def _with_w0(lam: Array) -> Array:
    """(lam_1, ..., lam_K, w0): the point of the (K + 1)-simplex that stick-breaking maps to, w0 = 1 - sum lam last."""
    return jnp.concatenate([lam, 1 - jnp.sum(lam, -1, keepdims=True)], -1)


class SubSimplexTransform(Transform):
    """R^K -> :data:`sub_simplex`: NumPyro's stick-breaking map onto the (K + 1)-simplex, last entry (w0) dropped."""

    domain = constraints.real_vector
    codomain = sub_simplex

    def __call__(self, x: Array) -> Array:
        return StickBreakingTransform()(x)[..., :-1]

    def _inverse(self, y: Array) -> Array:
        return StickBreakingTransform()._inverse(_with_w0(y))

    def log_abs_det_jacobian(self, x: Array, y: Array, intermediates: Any = None) -> Array:
        # the stick-breaking Jacobian is that of its first K outputs, which lam are
        return StickBreakingTransform().log_abs_det_jacobian(x, _with_w0(y))

    def tree_flatten(self) -> tuple[tuple, dict]:
        return (), {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubSimplexTransform)


@biject_to.register(_SubSimplex)
def _sub_simplex_bijection(constraint: _SubSimplex) -> Transform:
    return SubSimplexTransform()


class SubSimplexDirichlet(dist.Distribution):
    """Dirichlet(alpha_0, ..., alpha_K) of (w0, lam_1, ..., lam_K), as a distribution of lam (w0 = 1 - sum lam)."""

    support = sub_simplex
    arg_constraints: ClassVar[dict] = {"concentration": constraints.independent(constraints.positive, 1)}
    pytree_data_fields = ("concentration",)

    def __init__(self, concentration: Array, *, validate_args: bool | None = None):
        self.concentration = jnp.asarray(concentration, dtype=float)
        k = self.concentration.shape[-1] - 1
        super().__init__(self.concentration.shape[:-1], (k,), validate_args=validate_args)

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        return dist.Dirichlet(self.concentration).sample(key, sample_shape)[..., 1:]

    @property
    def mean(self) -> Array:
        return dist.Dirichlet(self.concentration).mean[..., 1:]

    @property
    def variance(self) -> Array:
        return dist.Dirichlet(self.concentration).variance[..., 1:]

    def log_prob(self, value: Array) -> Array:
        w0 = 1 - jnp.sum(value, -1, keepdims=True)
        return dist.Dirichlet(self.concentration).log_prob(jnp.concatenate([w0, value], -1))


class OnSupport(dist.Distribution):
    """``base`` (iid entries) restricted to ``support`` (an ordered cone), normalised there.

    Samples are the base's, sorted: the order statistics of iid draws, whose density on the cone is K!
    times the base's, which ``log_prob`` is (a proper prior, as a Laplace evidence needs).
    """

    def __init__(self, base: dist.Distribution, support: constraints.Constraint, *, validate_args: bool | None = None):
        self.base, self._support = base, support
        super().__init__(base.batch_shape, base.event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self) -> constraints.Constraint:
        return self._support

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        return jnp.sort(self.base.sample(key, sample_shape), axis=-1)

    def log_prob(self, value: Array) -> Array:
        return self.base.log_prob(value) + math.lgamma(self.event_shape[-1] + 1)


#: natural constraint of each kind of parameter
SUPPORTS = {
    "real": constraints.real,
    "unit": constraints.unit_interval,
    "positive": constraints.positive,
    "simplex": sub_simplex,
    "ordered": constraints.ordered_vector,
    "positive_ordered": constraints.positive_ordered_vector,
}
REAL, POSITIVE = ("real", "ordered"), ("positive", "positive_ordered")
#: the supports of an ordering constraint: vectors increasing across prompts
ORDERED = ("ordered", "positive_ordered")

#: prior family -> (number of arguments, supports it may be used on); ``dirichlet``: 1 or K + 1 arguments
PRIOR_FAMILIES: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "flat": (0, tuple(SUPPORTS)),
    "normal": (2, REAL),
    "beta": (2, ("unit",)),
    "dirichlet": (None, ("unit", "simplex")),
    "lognormal": (2, POSITIVE),
    "inversegamma": (2, POSITIVE),
    "halfnormal": (1, POSITIVE),
    "halfcauchy": (1, POSITIVE),
}


@dataclass(frozen=True)
class Prior:
    """A prior family with its arguments, e.g. ``Prior("normal", (0.0, 3.0))``."""

    family: str
    args: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(float(a) for a in self.args))

    def check(self, support: str, field: str, shape: tuple[int, ...] = ()) -> None:
        """Raise unless the family is known, has valid arguments and suits ``support`` (a parameter of ``shape``)."""
        require(
            self.family in PRIOR_FAMILIES, field, f"unknown prior {self.family!r}; choose from {sorted(PRIOR_FAMILIES)}"
        )
        nargs, supports = PRIOR_FAMILIES[self.family]
        if nargs is None:  # dirichlet: one concentration per weight (w0 first), or one for all
            weights = (shape[0] if shape else 1) + 1
            require(
                len(self.args) in (1, weights),
                field,
                f"prior 'dirichlet' takes 1 concentration or {weights} (w0 first), got {len(self.args)}",
            )
        else:
            require(
                len(self.args) == nargs, field, f"prior {self.family!r} takes {nargs} argument(s), got {len(self.args)}"
            )
        require(all(math.isfinite(a) for a in self.args), field, "prior arguments must be finite")
        hint = "; the weights of K >= 2 prompts take 'dirichlet' or 'flat'" if support == "simplex" else ""
        require(support in supports, field, f"prior {self.family!r} does not suit a {support} parameter{hint}")
        positive_args = self.args[1:] if self.family in ("normal", "lognormal") else self.args
        require(all(a > 0 for a in positive_args), field, f"prior {self.family!r} needs positive scale/concentration")

    def distribution(self, support: str, shape: tuple[int, ...]) -> dist.Distribution:
        """The NumPyro distribution of a parameter of ``shape`` under this prior."""
        if self.family == "flat":
            event = shape[-1:] if support in ("simplex", *ORDERED) else shape
            return dist.ImproperUniform(SUPPORTS[support], shape[: len(shape) - len(event)], event)
        if self.family == "dirichlet":
            alpha = jnp.broadcast_to(jnp.asarray(self.args), ((shape[0] if shape else 1) + 1,))
            return SubSimplexDirichlet(alpha) if shape else dist.Beta(alpha[1], alpha[0])
        base = {
            "normal": dist.Normal,
            "beta": dist.Beta,
            "lognormal": dist.LogNormal,
            "inversegamma": dist.InverseGamma,
            "halfnormal": dist.HalfNormal,
            "halfcauchy": dist.HalfCauchy,
        }[self.family](*self.args)
        base = base.expand(shape).to_event(len(shape)) if shape else base
        return OnSupport(base, SUPPORTS[support]) if support in ORDERED else base

    def to_config(self) -> str | list[Any]:
        """TOML/JSON form: ``"flat"`` or ``[family, arg, ...]``."""
        return self.family if not self.args else [self.family, *self.args]

    @classmethod
    def from_config(cls, value: Any, field: str) -> Prior:
        """Parse ``"flat"``, ``"normal"``-style lists or a ``Prior``."""
        if isinstance(value, Prior):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            try:
                return cls(value[0], tuple(float(a) for a in value[1:]))
            except (TypeError, ValueError):
                pass
        raise BayescmoeError(field, f"a prior is 'flat' or [family, args...], got {value!r}")


def default_prior(support: str, nu0: float) -> Prior:
    """Weakly informative default for a parameter with the given support."""
    if support == "unit":
        return Prior("beta", (1.0, 1.0))
    if support == "simplex":
        return Prior("dirichlet", (1.0,))
    if support in POSITIVE:
        return Prior("inversegamma", (2.0, nu0))
    return Prior("normal", (0.0, 3.0))
