"""Simulate (X, Y) from the contaminated MoE (PAPERS.md section 1).

X is standard normal (the papers' experiments) or uniform on the unit ball (the bounded X the
theory assumes); Y picks the prompt with probability w(x), else the frozen expert.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayescmoe.errors import require
from bayescmoe.model.families import family_sample
from bayescmoe.model.likelihood import frozen_mean, gate_log_weights, prompt_mean
from bayescmoe.model.spec import ModelSpec, check_params
from bayescmoe.runtime import require_memory

Array = jax.Array
X_DISTRIBUTIONS = ("normal", "ball")
#: bytes per simulated number: x, its direction and radius draws, y and the two experts' draws in float64
SIMULATION_BYTES = 8 * 8


def sample_x(key: Array, n: int, d: int, kind: str = "normal") -> Array:
    """n draws of X in R^d: ``normal`` N(0, I_d) or ``ball`` uniform on the unit ball."""
    require(kind in X_DISTRIBUTIONS, "x_dist", f"unknown X distribution {kind!r}; choose from {list(X_DISTRIBUTIONS)}")
    k_dir, k_rad = jax.random.split(key)
    z = jax.random.normal(k_dir, (n, d))
    if kind == "normal":
        return z
    radius = jax.random.uniform(k_rad, (n, 1)) ** (1.0 / d)
    return radius * z / jnp.linalg.norm(z, axis=1, keepdims=True)


def sample_y(key: Array, spec: ModelSpec, params: Mapping[str, Array], x: Array) -> Array:
    """Y | X from the mixture: prompt with probability w(x), frozen expert otherwise."""
    k_pick, k_frozen, k_prompt = jax.random.split(key, 3)
    log_w, _ = gate_log_weights(spec, params, x)
    use_prompt = jnp.log(jax.random.uniform(k_pick, x.shape[:1])) < log_w
    f = spec.frozen
    y_frozen = family_sample(k_frozen, f.family, frozen_mean(spec, x), f.nu, f.df, f.laplace_reading)
    y_prompt = family_sample(k_prompt, "gaussian", prompt_mean(spec, params, x), params["nu"])
    return jnp.where(use_prompt, y_prompt, y_frozen)


def simulate(
    key: Array, spec: ModelSpec, params: Mapping[str, Array], n: int, x_dist: str = "normal"
) -> tuple[Array, Array]:
    """Draw n pairs (x, y) with x of shape (n, d) and y of shape (n,); ``params`` is validated."""
    require(isinstance(n, (int, np.integer)) and n > 0, "n", f"must be a positive integer, got {n!r}")
    require_memory(SIMULATION_BYTES * n * (spec.dim + 2), "n", f"simulating n = {n} observations")
    params = {k: jnp.asarray(v) for k, v in check_params(spec, params, "params").items()}
    k_x, k_y = jax.random.split(key)
    x = sample_x(k_x, n, spec.dim, x_dist)
    return x, sample_y(k_y, spec, params, x)
