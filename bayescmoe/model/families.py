"""Densities of the experts, all parametrised by their variance nu (docs/science.md: *The model*).

Laplace with variance nu has scale sqrt(nu / 2); Student-t(df > 2) with variance nu has scale
sqrt(nu (df - 2) / df). The ``scale`` reading of Laplace (P2's "nu0 = 0.001" may be the scale)
takes nu as the scale b itself; it is the frozen expert's only (the prompt's nu is always a variance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy import stats

from bayescmoe.errors import require

Array = jax.Array

FAMILIES = ("gaussian", "laplace", "student_t")
LAPLACE_READINGS = ("variance", "scale")
#: the family of a class target y in 0..C-1 (docs/classification.md): not a density of a real y, no variance
CATEGORICAL = "categorical"


def check_family(family: str, df: float | None, laplace_reading: str, field: str) -> None:
    """Validate a family name and its extra parameters."""
    require(
        isinstance(family, str) and family in (*FAMILIES, CATEGORICAL),
        f"{field}.family",
        f"unknown family {family!r}; choose from {[*FAMILIES, CATEGORICAL]}",
    )
    if family == "student_t":
        ok = isinstance(df, (int, float)) and not isinstance(df, bool) and math.isfinite(df) and df > 2
        require(ok, f"{field}.df", f"student_t needs a finite df > 2 for nu to be a variance, got {df!r}")
    else:
        require(df is None, f"{field}.df", f"df applies only to student_t, not {family}")
    require(
        laplace_reading in LAPLACE_READINGS,
        f"{field}.laplace_reading",
        f"must be one of {list(LAPLACE_READINGS)}",
    )


def check_classes(classes: object, field: str) -> None:
    """A categorical expert's number of classes C: an integer >= 2."""
    ok = isinstance(classes, int) and not isinstance(classes, bool) and classes >= 2
    require(ok, field, f"a categorical expert needs classes = C >= 2, got {classes!r}")


def categorical_log_prob(log_probs: Array, y: Array) -> Array:
    """log p(y_i) of class codes y (n,), held as floats, from log class probabilities (n, C)."""
    return jnp.take_along_axis(log_probs, y.astype(jnp.int32)[:, None], axis=1)[:, 0]


def adapter_log_probs(eta: Array) -> Array:
    """log softmax of the logits (0, eta_1, ..., eta_{C-1}) of an adapter, eta (n, C - 1): class 0 is the reference."""
    return jax.nn.log_softmax(jnp.concatenate([jnp.zeros_like(eta[:, :1]), eta], axis=1), axis=1)


def gaussian_logpdf(y: Array, mean: Array, nu: Array) -> Array:
    """log N(y | mean, nu), nu the variance."""
    return stats.norm.logpdf(y, mean, jnp.sqrt(nu))


def family_scale(
    family: str,
    nu: Array,
    df: float | None = None,
    laplace_reading: str = "variance",
    sqrt: Callable[[Any], Any] = jnp.sqrt,
) -> Array:
    """Scale parameter of ``family`` whose variance is ``nu`` (or whose scale is nu, for Laplace 'scale').

    ``sqrt=math.sqrt`` computes it without JAX, for constants built at import (before ``bayescmoe.configure``).
    """
    if family == "gaussian":
        return sqrt(nu)
    if family == "laplace":
        return nu if laplace_reading == "scale" else sqrt(nu / 2.0)
    return sqrt(nu * (df - 2.0) / df)


def family_variance(family: str, nu: Array, laplace_reading: str = "variance") -> Array:
    """Variance of ``family`` at spread ``nu``: nu itself, except a Laplace read as scale (2 nu^2)."""
    return 2.0 * nu**2 if family == "laplace" and laplace_reading == "scale" else nu


def family_logpdf(
    family: str, y: Array, mean: Array, nu: Array, df: float | None = None, laplace_reading: str = "variance"
) -> Array:
    """Log density of an expert of ``family`` at y: f0(y | mean, nu) or the prompt g(y | mean, nu)."""
    if family == "gaussian":
        return gaussian_logpdf(y, mean, nu)
    scale = family_scale(family, nu, df, laplace_reading)
    if family == "laplace":
        return stats.laplace.logpdf(y, mean, scale)
    return stats.t.logpdf(y, df, mean, scale)


def family_sample(
    key: Array, family: str, mean: Array, nu: Array, df: float | None = None, laplace_reading: str = "variance"
) -> Array:
    """Draw y from an expert of ``family`` (f0 or the prompt) at (mean, nu), one per entry of ``mean``."""
    scale = family_scale(family, nu, df, laplace_reading)
    shape = jnp.shape(mean)
    if family == "gaussian":
        noise = jax.random.normal(key, shape)
    elif family == "laplace":
        noise = jax.random.laplace(key, shape)
    else:
        noise = jax.random.t(key, df, shape)
    return mean + scale * noise
