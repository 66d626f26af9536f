"""Simulate (X, Y) from the contaminated MoE (docs/science.md: *The model*).

X is standard normal (the papers' experiments) or uniform on the unit ball (the bounded X the
theory assumes); Y picks the prompt with probability w(x), else the frozen expert (with K >= 2
prompts: expert k with probability w_k(x), the frozen expert with w0(x)). A categorical y is a class code
drawn from p0(. | x) or from the adapter's softmax(eta(x)) (as a float, like every y).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayescmoe.errors import require
from bayescmoe.model.families import adapter_log_probs, family_sample
from bayescmoe.model.likelihood import frozen_log_probs, frozen_mean, frozen_variance, gate_log_weights, prompt_mean
from bayescmoe.model.spec import ModelSpec, check_data, check_params, model_inputs
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


def _expert_draws(
    k_frozen: Array, k_prompt: Array, spec: ModelSpec, params: Mapping[str, Array], inputs: Array
) -> tuple[Array, list[Array]]:
    """One y per row from the frozen expert and from each of the K prompts (a class code, for a classifier)."""
    mean = prompt_mean(spec, params, inputs)
    keys = [k_prompt] if spec.num_prompts == 1 else list(jax.random.split(k_prompt, spec.num_prompts))
    means = [mean] if spec.num_prompts == 1 else [mean[:, k] for k in range(spec.num_prompts)]
    if spec.categorical:
        y_frozen = jax.random.categorical(k_frozen, frozen_log_probs(spec, inputs), axis=1)
        draws = [
            jax.random.categorical(kk, adapter_log_probs(eta), axis=1) for kk, eta in zip(keys, means, strict=True)
        ]
        return y_frozen, draws
    f = spec.frozen
    nu0 = frozen_variance(spec, inputs)
    y_frozen = family_sample(k_frozen, f.family, frozen_mean(spec, inputs), nu0, f.df, f.laplace_reading)
    nus = [params["nu"]] if spec.num_prompts == 1 else [params["nu"][k] for k in range(spec.num_prompts)]
    draws = [
        family_sample(kk, p.family, m, nu, p.df) for kk, p, m, nu in zip(keys, spec.prompts, means, nus, strict=True)
    ]
    return y_frozen, draws


def sample_y(key: Array, spec: ModelSpec, params: Mapping[str, Array], inputs: Array) -> Array:
    """Y | X from the mixture: prompt with probability w(x), frozen expert otherwise (K >= 2: expert k
    with probability w_k(x)); a classifier's y is a class code, held as a float like every y."""
    k_pick, k_frozen, k_prompt = jax.random.split(key, 3)
    log_w, log_w0 = gate_log_weights(spec, params, inputs)
    y_frozen, draws = _expert_draws(k_frozen, k_prompt, spec, params, inputs)
    if spec.num_prompts == 1:
        use_prompt = jnp.log(jax.random.uniform(k_pick, inputs.shape[:1])) < log_w
        y = jnp.where(use_prompt, draws[0], y_frozen)
    else:
        pick = jax.random.categorical(k_pick, jnp.concatenate([log_w0[:, None], log_w], axis=1), axis=1)
        every = jnp.stack([y_frozen, *draws], axis=1)
        y = jnp.take_along_axis(every, pick[:, None], axis=1)[:, 0]
    return y.astype(float) if spec.categorical else y


def simulate(
    key: Array,
    spec: ModelSpec,
    params: Mapping[str, Array],
    n: int | None = None,
    x_dist: str = "normal",
    *,
    x: Any = None,
    h0: Any = None,
    nu0: Any = None,
) -> tuple[Array, Array]:
    """Draw n pairs: the model's inputs, shape (n, spec.width) (:func:`~bayescmoe.model.spec.model_inputs`), and y.

    x's features are drawn from ``x_dist``, or are the given ``x`` (then n is its row count). A
    frozen expert given by its predictions needs ``h0`` (and ``nu0``): arrays of one value per
    row, or functions of the features (:func:`~bayescmoe.model.spec.model_inputs`), appended to x.
    ``params`` is validated.
    """
    k_x, k_y = jax.random.split(key)
    drawn = x is None
    if drawn:
        require(isinstance(n, (int, np.integer)) and n > 0, "n", f"must be a positive integer, got {n!r}")
        require_memory(SIMULATION_BYTES * n * (spec.width + 2), "n", f"simulating n = {n} observations")
    params = {k: jnp.asarray(v) for k, v in check_params(spec, params, "params").items()}
    if drawn:
        x = sample_x(k_x, n, spec.dim, x_dist)
    if not (drawn and h0 is None and nu0 is None and not spec.frozen.given):
        x = model_inputs(spec, x, h0, nu0)
        x = jnp.asarray(check_data(spec, x, np.zeros(x.shape[0]))[0])
    return x, sample_y(k_y, spec, params, x)
