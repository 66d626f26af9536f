"""True parameters that may move with the sample size n (docs/science.md: *The model*, *The experiments*).

Each parameter is ``base + coef * n**(-alpha)``: a vanishing weight is lam*_n = c n^-alpha
(base 0), a merging prompt is pre-trained + c n^-alpha u (base = the frozen expert's values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayescmoe.errors import BayescmoeError, as_floats, require
from bayescmoe.model.spec import ModelSpec, check_params


@dataclass(frozen=True)
class Rate:
    """A perturbation coef * n**(-alpha) added to a parameter's base value."""

    coef: Any
    alpha: float

    def at(self, n: int) -> np.ndarray:
        """The perturbation at sample size ``n``."""
        return np.asarray(self.coef, dtype=float) * float(n) ** (-self.alpha)


@dataclass(frozen=True)
class Truth:
    """Base values of every trainable parameter plus optional n-dependent rates."""

    base: Mapping[str, Any]
    rates: Mapping[str, Rate] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", dict(self.rates or {}))

    def at(self, spec: ModelSpec, n: int) -> dict[str, np.ndarray]:
        """The validated true parameters at sample size ``n``."""
        require(isinstance(n, (int, np.integer)) and n > 0, "n", f"must be a positive integer, got {n!r}")
        unknown = sorted(set(self.rates) - set(self.base))
        require(not unknown, "truth.rates", f"unknown parameter(s) {unknown}")
        check_params(spec, self.base, "truth")  # the values as typed, before any rate is added
        values = {
            k: np.asarray(v, dtype=float) + (self.rates[k].at(n) if k in self.rates else 0.0)
            for k, v in self.base.items()
        }
        try:
            return check_params(spec, values, "truth")
        except BayescmoeError as err:
            name = err.field.removeprefix("truth.")
            rate = self.rates.get(name)
            typed = "" if rate is None else f" (the value typed, {self.base[name]}, plus truth.rates.{name} at n = {n})"
            raise BayescmoeError(err.field, err.message + typed) from None

    def to_config(self) -> dict[str, Any]:
        """Plain dict form (TOML/JSON)."""
        out: dict[str, Any] = {k: np.asarray(v, dtype=float).tolist() for k, v in self.base.items()}
        if self.rates:
            out["rates"] = {
                k: {"coef": np.asarray(r.coef, dtype=float).tolist(), "alpha": float(r.alpha)}
                for k, r in self.rates.items()
            }
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Truth:
        """Read the dict form written by :meth:`to_config`."""
        require(isinstance(config, Mapping), "truth", "must be a table of parameter values")
        base = {k: v for k, v in config.items() if k != "rates"}
        rates = {}
        raw = config.get("rates", {})
        require(isinstance(raw, Mapping), "truth.rates", "must be a table")
        for name, rate in raw.items():
            where = f"truth.rates.{name}"
            if not (isinstance(rate, Mapping) and set(rate) == {"coef", "alpha"}):
                raise BayescmoeError(where, "must be a table with exactly 'coef' and 'alpha'")
            alpha = as_floats(rate["alpha"], f"{where}.alpha")
            require(alpha.ndim == 0 and bool(np.isfinite(alpha)), f"{where}.alpha", "must be one finite number")
            rates[name] = Rate(as_floats(rate["coef"], f"{where}.coef"), float(alpha))
        return cls(base, rates)


def vanishing_weight(base: Mapping[str, Any], coef: float, alpha: float) -> Truth:
    """lam*_n = coef * n**-alpha; the other parameters are fixed at ``base``."""
    return Truth({**base, "lam": 0.0}, {"lam": Rate(coef, alpha)})


def merging_prompt(
    spec: ModelSpec, gate: Mapping[str, Any], coef: float, alpha: float, direction: Mapping[str, Any]
) -> Truth:
    """Prompt = pre-trained + coef * n**-alpha * direction (needs the same expert structure)."""
    require(spec.same_structure, "truth", "a merging prompt needs prompt and frozen experts of the same structure")
    frozen = spec.frozen.params()
    return Truth({**gate, **frozen}, {k: Rate(coef * np.asarray(u, dtype=float), alpha) for k, u in direction.items()})
