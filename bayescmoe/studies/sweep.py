"""The sweep engine: replicated MLE fits over settings x sample sizes, for the rate experiments.

Each cell (setting, n, replicate) draws fresh data with a key folded from (seed, setting, n,
replicate), sets the truth of that n, fits the MLE and records estimates, truths, per-group errors,
the losses of PAPERS.md section 3, the log-likelihood at the estimate and at the truth, convergence
and wall time. Two estimators: ``direct`` (preconditioned L-BFGS on the likelihood) and ``em``
(:mod:`bayescmoe.inference.em`, as the papers ran it). Starts: ``truth`` perturbed by N(0, perturbation^2) on
the unconstrained scale (logit lam, log nu; the papers started "near the truth"), or ``random``
(:func:`bayescmoe.inference.optimize.random_starts`, best of several). Data are padded to sizes 2^(k/2) with
a 0/1 mask so that a 20-point n grid compiles about 14 programs per spec, not one per n.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescmoe.errors import require
from bayescmoe.inference.em import em_fit, mean_loglik
from bayescmoe.inference.optimize import constrain, lbfgs_solve, random_starts, unconstrain
from bayescmoe.model.settings import Setting, get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import ModelSpec
from bayescmoe.studies.losses import delta_star, error_groups, group_errors, losses
from bayescmoe.studies.protocols import Protocol
from bayescmoe.studies.store import empty_dataset, open_store, run_cells

ESTIMATORS = ("direct", "em")
INITS = ("truth", "random")


@dataclass(frozen=True)
class SweepConfig:
    """How each cell is fitted (stored with the results; resuming needs the same config)."""

    estimator: str = "direct"
    init: str = "truth"
    perturbation: float = 0.1
    random_starts: int = 4
    seed: int = 0
    max_iter: int = 1000
    tol: float = 1e-6
    em_max_iter: int = 2000
    em_tol: float = 1e-10

    def __post_init__(self) -> None:
        require(self.estimator in ESTIMATORS, "estimator", f"must be one of {list(ESTIMATORS)}")
        require(self.init in INITS, "init", f"must be one of {list(INITS)}")
        require(self.perturbation >= 0, "perturbation", "must be >= 0")
        require(self.random_starts > 0, "random_starts", "must be a positive integer")


def padded_size(n: int) -> int:
    """The padded size of a data set of n rows: the next 2^(k/2)."""
    return math.ceil(2 ** (math.ceil(2 * math.log2(n)) / 2))


def cell_key(seed: int, setting: str, n: int, replicate: int) -> jax.Array:
    """PRNG key of one cell, folded from the seed, a stable hash of the setting name, n and replicate."""
    key = jax.random.PRNGKey(seed)
    for part in (zlib.crc32(setting.encode()), n, replicate):
        key = jax.random.fold_in(key, part)
    return key


_loglik = jax.jit(mean_loglik, static_argnames="spec")


def _pad(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    size = padded_size(y.shape[0])
    pad = size - y.shape[0]
    mask = jnp.concatenate([jnp.ones_like(y), jnp.zeros(pad)])
    return jnp.pad(x, ((0, pad), (0, 0))), jnp.pad(y, (0, pad)), mask


def cell_starts(key: jax.Array, spec: ModelSpec, truth: dict, y: jax.Array, config: SweepConfig) -> list[dict]:
    """Unconstrained starting points of one cell (``spec`` with flat priors)."""
    if config.init == "random":
        return random_starts(key, spec, y, config.random_starts)
    u = unconstrain(spec, truth)
    keys = dict(zip(u, jax.random.split(key, len(u)), strict=True))
    return [{k: v + config.perturbation * jax.random.normal(keys[k], v.shape) for k, v in u.items()}]


def _fit(spec: ModelSpec, starts: list[dict], x, y, mask, config: SweepConfig) -> tuple[dict, float, bool]:
    """Best of the starts: (natural parameters, iterations, converged)."""
    best = None
    for u0 in starts:
        if config.estimator == "direct":
            solve = lbfgs_solve(u0, spec, x, y, mask, config.max_iter, config.tol)
            fit = (constrain(spec, solve.u), -float(solve.objective), int(solve.n_iter), bool(solve.converged))
        else:
            res = em_fit(spec, constrain(spec, u0), x, y, mask, config.em_max_iter, config.em_tol)
            fit = (res.params, float(res.mean_loglik), int(res.n_iter), bool(res.converged))
        if best is None or (np.isfinite(fit[1]) and not fit[1] <= best[1]):
            best = fit
    params, _, n_iter, converged = best
    return {k: np.asarray(v) for k, v in params.items()}, n_iter, converged


def fit_cell(setting: Setting, n: int, replicate: int, config: SweepConfig) -> dict[str, Any]:
    """Simulate and fit one cell; returns a JSON-ready record for the store."""
    start = time.perf_counter()
    spec = setting.spec.with_priors("flat")
    truth = setting.truth.at(setting.spec, n)
    k_data, k_start = jax.random.split(cell_key(config.seed, setting.name, n, replicate))
    x, y = simulate(k_data, setting.spec, truth, n, setting.x_dist)
    xp, yp, mask = _pad(x, y)
    est, n_iter, converged = _fit(spec, cell_starts(k_start, spec, truth, y, config), xp, yp, mask, config)
    values: dict[str, Any] = {}
    for p in spec.param_names:
        values[f"{p}_hat"] = np.asarray(est[p]).tolist()
        values[f"{p}_true"] = np.asarray(truth[p]).tolist()
    values.update({f"err_{g}": v for g, v in group_errors(spec, est, truth).items()})
    values.update({f"loss_{k}": v for k, v in losses(spec, est, truth).items()})
    jtruth = {k: jnp.asarray(v) for k, v in truth.items()}
    values["loglik_hat"] = n * float(_loglik(spec, {k: jnp.asarray(v) for k, v in est.items()}, xp, yp, mask))
    values["loglik_true"] = n * float(_loglik(spec, jtruth, xp, yp, mask))
    values["converged"] = float(converged)
    values["n_iter"] = float(n_iter)
    values["delta_star"] = delta_star(spec, truth)
    values["seconds"] = time.perf_counter() - start
    return {"setting": setting.name, "n": n, "replicate": replicate, "values": values}


def new_dataset(protocol: Protocol, config: SweepConfig) -> xr.Dataset:
    """The empty results dataset of a protocol run with ``config``."""
    settings = [get_setting(s) for s in protocol.settings]
    params = list(dict.fromkeys(p for s in settings for p in s.spec.param_names))
    groups = list(dict.fromkeys(g for s in settings for g in error_groups(s.spec)))
    attrs = {"protocol": protocol.name, "config": json.dumps(asdict(config), sort_keys=True)}
    dim = max(s.spec.dim for s in settings)
    return empty_dataset(protocol.settings, protocol.n_grid, protocol.replicates, dim, params, groups, attrs)


def run_sweep(
    protocol: Protocol,
    out: str | Path,
    config: SweepConfig = SweepConfig(),
    *,
    progress: bool = True,
    flush_seconds: float = 20.0,
) -> xr.Dataset:
    """Run (or resume) every unfinished cell of ``protocol``, saving to ``out``; returns the dataset."""
    out = Path(out)
    ds = open_store(out, new_dataset(protocol, config))

    def fit(s: str, n: int, r: int) -> dict[str, Any]:
        return fit_cell(get_setting(s), n, r, config)

    return run_cells(ds, out, fit, protocol.name, progress=progress, flush_seconds=flush_seconds)
