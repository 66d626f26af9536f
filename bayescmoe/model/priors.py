"""Priors of the trainable parameters, as small immutable values turned into NumPyro distributions.

``flat`` is the improper uniform density on a parameter's natural scale, so the MAP under flat
priors is the MLE. Defaults are weakly informative: Beta(1, 1) for lambda, Normal(0, 3) for
real parameters, InverseGamma(2, nu0) for the prompt variance (mean nu0, the frozen expert's). The
inverse-gamma density vanishes fast at nu = 0, which removes the degenerate spikes (nu -> 0 on a
few points) that make a mixture likelihood unbounded (Fraley and Raftery 2007).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayescmoe.errors import BayescmoeError, require

#: natural constraint of each kind of parameter
SUPPORTS = {"real": constraints.real, "unit": constraints.unit_interval, "positive": constraints.positive}

#: prior family -> (number of arguments, supports it may be used on)
PRIOR_FAMILIES: dict[str, tuple[int, tuple[str, ...]]] = {
    "flat": (0, ("real", "unit", "positive")),
    "normal": (2, ("real",)),
    "beta": (2, ("unit",)),
    "lognormal": (2, ("positive",)),
    "inversegamma": (2, ("positive",)),
    "halfnormal": (1, ("positive",)),
    "halfcauchy": (1, ("positive",)),
}


@dataclass(frozen=True)
class Prior:
    """A prior family with its arguments, e.g. ``Prior("normal", (0.0, 3.0))``."""

    family: str
    args: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(float(a) for a in self.args))

    def check(self, support: str, field: str) -> None:
        """Raise unless the family is known, has valid arguments and suits ``support``."""
        require(
            self.family in PRIOR_FAMILIES, field, f"unknown prior {self.family!r}; choose from {sorted(PRIOR_FAMILIES)}"
        )
        nargs, supports = PRIOR_FAMILIES[self.family]
        require(
            len(self.args) == nargs, field, f"prior {self.family!r} takes {nargs} argument(s), got {len(self.args)}"
        )
        require(all(math.isfinite(a) for a in self.args), field, "prior arguments must be finite")
        require(support in supports, field, f"prior {self.family!r} does not suit a {support} parameter")
        positive_args = self.args[1:] if self.family in ("normal", "lognormal") else self.args
        require(all(a > 0 for a in positive_args), field, f"prior {self.family!r} needs positive scale/concentration")

    def distribution(self, support: str, shape: tuple[int, ...]) -> dist.Distribution:
        """The NumPyro distribution of a parameter of ``shape`` under this prior."""
        if self.family == "flat":
            return dist.ImproperUniform(SUPPORTS[support], (), shape)
        base = {
            "normal": dist.Normal,
            "beta": dist.Beta,
            "lognormal": dist.LogNormal,
            "inversegamma": dist.InverseGamma,
            "halfnormal": dist.HalfNormal,
            "halfcauchy": dist.HalfCauchy,
        }[self.family](*self.args)
        return base.expand(shape).to_event(len(shape)) if shape else base

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
    if support == "positive":
        return Prior("inversegamma", (2.0, nu0))
    return Prior("normal", (0.0, 3.0))
