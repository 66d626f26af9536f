"""Power posteriors sampled by NUTS: what singular learning theory and the evidence read (Watanabe 2013).

    p_t(theta | D) ∝ pi(theta) prod_i p(y_i | x_i, theta)^t

at a power t in [0, 1] (an inverse temperature; ``power`` in the code, as ``beta`` names the gate's
slope), with pi the spec's prior or a Gaussian localiser around a point w* on the unconstrained
scale (Lau et al. 2025). Every draw is reduced to its total log-likelihood
l(theta) = sum_i log p(y_i | x_i, theta), the one quantity the estimators of
:mod:`bayescmoe.diagnostics.singular` need. One compiled program serves every power of a ladder.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from bayescmoe.defaults import GAMMA
from bayescmoe.errors import require
from bayescmoe.inference.nuts import nuts_program
from bayescmoe.model.likelihood import frozen_log_density, log_likelihood
from bayescmoe.model.params import unconstrain
from bayescmoe.model.spec import ModelSpec, check_data, check_params

Array = jax.Array


class PowerDraws(NamedTuple):
    """Total log-likelihood of each draw of one power posterior, (chains, draws), and its divergences."""

    power: float
    loglik: np.ndarray
    divergences: int


@lru_cache(maxsize=16)
def power_program(spec: ModelSpec, **sampler: int | float | str | bool):
    """``(key, x, y, power, center, gamma, init) -> (loglik, diverging)`` by chain, compiled once per data shape."""
    run = nuts_program(spec, tempered=True, **sampler)

    @jax.jit
    def draws(key, inputs, y, power, center, gamma, init):
        samples, stats = run(key, inputs, y, init, (power, center, gamma))
        log_f0 = frozen_log_density(spec, inputs, y)
        total = lambda p: jnp.sum(log_likelihood(spec, p, inputs, y, log_f0))  # noqa: E731
        return jax.vmap(jax.vmap(total))(samples), stats["diverging"]

    return draws


def power_posterior(
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    powers: Sequence[float],
    *,
    key: Array | int = 0,
    center: Mapping[str, Array] | None = None,
    gamma: float = GAMMA,
    init: Mapping[str, Array] | None = None,
    progress: bool | None = None,
    **sampler: int | float | str | bool,
) -> list[PowerDraws]:
    """NUTS on each p_t of ``powers`` (``sampler``: options of :func:`~bayescmoe.inference.nuts.nuts_program`).

    ``center``: natural parameters w* to localise around (N(T^-1(w*), 1/gamma) on the unconstrained
    scale replaces the prior); ``init`` starts every chain there (default: ``center``, if given).
    ``progress``: a tqdm bar over the powers (default: when stderr is a terminal).
    """
    inputs, y = (jnp.asarray(v) for v in check_data(spec, inputs, y))
    require(all(0.0 <= t <= 1.0 for t in powers), "powers", f"powers lie in [0, 1], got {list(powers)}")
    require(gamma > 0, "gamma", f"the localiser's precision must be positive, got {gamma}")
    u_center = None if center is None else unconstrain(spec, check_params(spec, center, "center"))
    init = center if init is None else init
    init = None if init is None else {k: jnp.asarray(v, float) for k, v in check_params(spec, init, "init").items()}
    run = power_program(spec, **sampler)
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    out = []
    show = sys.stderr.isatty() if progress is None else progress
    for i, power in enumerate(tqdm(powers, desc="power posteriors", unit="power", disable=not show, leave=False)):
        loglik, diverging = run(jax.random.fold_in(key, i), inputs, y, float(power), u_center, float(gamma), init)
        out.append(PowerDraws(float(power), np.asarray(loglik), int(np.sum(diverging))))
    return out


#: the ladder's exponent: t_k = (k/K)^(1/ALPHA). Xie et al. (2011) use 0.3; at 16 steps that left
#: steps of t where the log-likelihood's spread times the step exceeded 5 and the two evidence
#: estimators 3 units apart (p1-family, n = 2000); 32 steps at 0.2 keep it below 2.2 and agree to 0.1
ALPHA = 0.2


def ladder(num_temperatures: int, alpha: float = ALPHA) -> np.ndarray:
    """t_k = (k / K)^(1/alpha), k = 0..K: a power-posterior ladder (Xie et al. 2011), dense near 0."""
    require(num_temperatures >= 2, "num_temperatures", f"a ladder needs at least 2 steps, got {num_temperatures}")
    require(0 < alpha <= 1, "alpha", f"the ladder's exponent lies in (0, 1], got {alpha}")
    return (np.arange(num_temperatures + 1) / num_temperatures) ** (1.0 / alpha)
