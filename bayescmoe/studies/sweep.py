"""The sweep engine: replicated MLE fits over settings x sample sizes, for the rate experiments.

Each cell (setting, n, replicate) draws fresh data with a key folded from (seed, setting, n,
replicate), sets the truth of that n, fits the MLE and records estimates, truths, per-group errors,
the losses of docs/science.md: *The rates*, the log-likelihood at the estimate and at the truth, why the fit
stopped and whether it ended below the truth, and wall time. Estimators: ``direct`` (preconditioned
L-BFGS on the likelihood), ``plain`` (the same without preconditioning) and ``em``
(:mod:`bayescmoe.inference.em`, as the papers ran it). Starts: ``truth`` perturbed on each
parameter's statistical scale (:func:`cell_starts`; the papers started "near the truth"), or
``random`` (:func:`bayescmoe.inference.optimize.random_starts`, best of several). Data are padded to
sizes 2^(k/2) with a 0/1 mask so that a 20-point n grid compiles about 14 programs per spec. A
categorical adapter is swept the same way (docs/classification.md: *Rates: homogeneous against
heterogeneous adapters*): it has no nu, and its a and b are stored per class.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescmoe.errors import require
from bayescmoe.inference.em import check_em, em_fit, mean_loglik
from bayescmoe.inference.lbfgs import STOPS
from bayescmoe.inference.optimize import (
    CONVERGED,
    FTOL,
    SATURATED,
    SATURATED_PROMPT,
    SPIKE,
    SPIKE_FRACTION,
    best_start,
    lbfgs_solve,
    random_starts,
    spiked,
    stop_reason,
)
from bayescmoe.model.params import constrain, unconstrain
from bayescmoe.model.settings import Setting, get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import ModelSpec
from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.losses import delta_star, error_groups, group_errors, losses, merge_direction
from bayescmoe.studies.protocols import Protocol
from bayescmoe.studies.store import empty_dataset, open_store, run_cells

#: direct = preconditioned L-BFGS on the likelihood, plain = the same unpreconditioned, em = EM
ESTIMATORS = ("direct", "plain", "em")
INITS = ("truth", "random")
#: a fit "ends below the truth" when its log-likelihood is below the truth's by more than this per
#: observation (the L-BFGS stopping rules leave at most ~1e-10 (1 + |mean|) per iteration)
BELOW_TRUTH_TOL = 1e-6
#: why a fit stopped, by the code of a sweep's ``stop`` variable
STOP_NAMES = (*STOPS, SATURATED, SPIKE, SATURATED_PROMPT)


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
    ftol: float = FTOL
    em_max_iter: int = 2000
    em_tol: float = 1e-10
    em_relative: bool = False

    def __post_init__(self) -> None:
        require(self.estimator in ESTIMATORS, "estimator", f"must be one of {list(ESTIMATORS)}")
        require(self.init in INITS, "init", f"must be one of {list(INITS)}")
        require(self.perturbation >= 0, "perturbation", "must be >= 0")
        require(self.random_starts > 0, "random_starts", "must be a positive integer")
        require(self.tol >= 0, "tol", "must be >= 0")
        require(self.ftol >= 0, "ftol", "must be >= 0")


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


def _pad(inputs: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    size = padded_size(y.shape[0])
    pad = size - y.shape[0]
    mask = jnp.concatenate([jnp.ones_like(y), jnp.zeros(pad)])
    return jnp.pad(inputs, ((0, pad), (0, 0))), jnp.pad(y, (0, pad)), mask


#: parameters whose start perturbation is in units of the prompt's noise sd sqrt(nu*) (the mean's parameters)
MEAN_PARAMS = ("a", "b")


def cell_starts(key: jax.Array, spec: ModelSpec, truth: dict, y: jax.Array, config: SweepConfig) -> list[dict]:
    """Unconstrained starting points of one cell (``spec`` with flat priors).

    ``init = "truth"``: the truth moved by ``perturbation`` on each parameter's statistical scale:
    N(0, perturbation^2) on logit lam, beta, tau and log nu (logit and relative units), and
    N(0, (perturbation sqrt(nu*))^2) on the prompt's mean parameters a and b, so that the start's
    prompt mean is off by a fraction of the noise sd whatever nu0 (an absolute 0.1 on ``a`` at
    nu0 = 0.001 is 9 noise sd in d = 8: a start in another basin, not near the truth). A categorical
    adapter has no nu: its logit parameters move by N(0, perturbation^2), logits being on their own scale.
    """
    if config.init == "random":
        return random_starts(key, spec, y, config.random_starts)
    u = unconstrain(spec, truth)
    keys = dict(zip(u, jax.random.split(key, len(u)), strict=True))
    # each prompt's noise sd, broadcast over its mean parameters (1: logit units for an adapter)
    sd = np.sqrt(np.asarray(truth["nu"], dtype=float)) if "nu" in truth else np.ones(())
    scale = {k: sd.reshape(sd.shape + (1,) * (np.ndim(truth[k]) - sd.ndim)) if k in MEAN_PARAMS else 1.0 for k in u}
    return [{k: v + config.perturbation * scale[k] * jax.random.normal(keys[k], v.shape) for k, v in u.items()}]


class CellFit(NamedTuple):
    """The best fit of one cell: natural parameters, mean log-likelihood, iterations, why it stopped."""

    params: dict[str, np.ndarray]
    mean_loglik: float
    n_iter: int
    stop_reason: str


def fit_starts(
    spec: ModelSpec,
    starts: list[dict],
    inputs: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    min_nu: float,
    estimator: str,
    config: SweepConfig,
) -> CellFit:
    """Fit from each start with ``estimator`` (one of :data:`ESTIMATORS`) and keep the best, as
    :func:`~bayescmoe.inference.optimize.fit_map` does: a start ending in a variance spike (nu < ``min_nu``)
    only if all do; the stop reason is honest (:func:`~bayescmoe.inference.optimize.stop_reason`)."""
    fits = []
    for u0 in starts:
        if estimator == "em":
            em = em_fit(
                spec,
                constrain(spec, u0),
                inputs,
                y,
                mask,
                config.em_max_iter,
                config.em_tol,
                relative=config.em_relative,
            )
            fits.append((em.params, float(em.mean_loglik), int(em.n_iter), int(em.stop)))
        else:
            solve = lbfgs_solve(
                u0, spec, inputs, y, mask, config.max_iter, config.tol, config.ftol, precondition=estimator == "direct"
            )
            fits.append((constrain(spec, solve.u), -float(solve.objective), int(solve.n_iter), int(solve.stop)))
    spikes = np.array([spiked(f[0], min_nu) for f in fits])
    params, mean_ll, n_iter, code = fits[best_start(-np.array([f[1] for f in fits]), spikes)]
    reason = stop_reason(spec, params, inputs, mask, code, min_nu)
    return CellFit({k: np.asarray(v) for k, v in params.items()}, mean_ll, n_iter, reason)


def fit_record(fit: CellFit, loglik_true: float, n: int) -> dict[str, Any]:
    """Convergence record of one fit: log-likelihood, iterations, stop code, and the flags of a bad end."""
    loglik = n * fit.mean_loglik
    return {
        "loglik_hat": loglik,
        "converged": float(fit.stop_reason in CONVERGED),
        "stop": float(STOP_NAMES.index(fit.stop_reason)),
        "degenerate": float(fit.stop_reason == SPIKE),
        "below_truth": float(not loglik >= loglik_true - BELOW_TRUTH_TOL * n),
        "n_iter": float(fit.n_iter),
    }


class Cell(NamedTuple):
    """What every estimator of one cell is given: the flat-prior spec, the truth, the padded data, the starts."""

    spec: ModelSpec
    truth: dict[str, np.ndarray]
    x: jax.Array
    y: jax.Array
    mask: jax.Array
    starts: list[dict]
    min_nu: float
    loglik_true: float


def simulate_cell(setting: Setting, n: int, replicate: int, config: SweepConfig) -> Cell:
    """Draw the data and the starts of cell (setting, n, replicate) from its key (:func:`cell_key`)."""
    spec = setting.spec.with_priors("flat")
    truth = setting.truth.at(setting.spec, n)
    k_data, k_start = jax.random.split(cell_key(config.seed, setting.name, n, replicate))
    x, y = simulate(k_data, setting.spec, truth, n, setting.x_dist)
    xp, yp, mask = _pad(x, y)
    loglik_true = n * float(_loglik(spec, {k: jnp.asarray(v) for k, v in truth.items()}, xp, yp, mask))
    starts = cell_starts(k_start, spec, truth, y, config)
    return Cell(spec, truth, xp, yp, mask, starts, SPIKE_FRACTION * float(jnp.var(y)), loglik_true)


def fit_cell(setting: Setting, n: int, replicate: int, config: SweepConfig) -> dict[str, Any]:
    """Simulate and fit one cell; returns a JSON-ready record for the store."""
    start = time.perf_counter()
    cell = simulate_cell(setting, n, replicate, config)
    spec, truth = cell.spec, cell.truth
    fit = fit_starts(spec, cell.starts, cell.x, cell.y, cell.mask, cell.min_nu, config.estimator, config)
    est = fit.params
    values: dict[str, Any] = {}
    for p in spec.param_names:
        values[f"{p}_hat"] = np.asarray(est[p]).tolist()
        values[f"{p}_true"] = np.asarray(truth[p]).tolist()
    values.update({f"err_{g}": v for g, v in group_errors(spec, est, truth, merge_direction(setting.truth)).items()})
    values.update({f"loss_{k}": v for k, v in losses(spec, est, truth).items()})
    values["loglik_true"] = cell.loglik_true
    values.update(fit_record(fit, cell.loglik_true, n))
    values["delta_star"] = delta_star(spec, truth)
    values["seconds"] = time.perf_counter() - start
    return {"setting": setting.name, "n": n, "replicate": replicate, "values": values}


def new_dataset(protocol: Protocol, config: SweepConfig) -> xr.Dataset:
    """The empty results dataset of a protocol run with ``config``."""
    settings = [get_setting(s) for s in protocol.settings]
    params = list(dict.fromkeys(p for s in settings for p in s.spec.param_names))
    merging = [merge_direction(s.truth) is not None for s in settings]
    groups = list(dict.fromkeys(g for s, m in zip(settings, merging, strict=True) for g in error_groups(s.spec, m)))
    attrs = {
        "protocol": protocol.name,
        "config": json.dumps(asdict(config), sort_keys=True),
        "stop_names": json.dumps(STOP_NAMES),
        "below_truth_tol": BELOW_TRUTH_TOL,
    }
    dim = max(s.spec.dim for s in settings)
    rows = {s.spec.classes - 1 if s.spec.categorical else None for s in settings}
    require(len(rows) == 1, "protocol", "a sweep holds regressions only, or classifiers of one number of classes")
    return empty_dataset(
        protocol.settings, protocol.n_grid, protocol.replicates, dim, params, groups, attrs, rows.pop()
    )


def run_sweep(
    protocol: Protocol,
    out: str | Path,
    config: SweepConfig = SweepConfig(),
    *,
    progress: bool = True,
    flush_seconds: float = 20.0,
    cluster: Cluster | None = None,
) -> xr.Dataset:
    """Run (or resume) every unfinished cell of ``protocol``, saving to ``out``; returns the dataset.

    ``cluster``: fit the cells as tasks of a Dask cluster (:mod:`bayescmoe.studies.engine`). EM is refused
    for a setting whose prompt it cannot fit (:func:`~bayescmoe.inference.em.check_em`) before any work.
    """
    if config.estimator == "em":
        for name in protocol.settings:
            check_em(get_setting(name).spec)
    out = Path(out)
    ds = open_store(out, new_dataset(protocol, config))

    def fit(s: str, n: int, r: int) -> dict[str, Any]:
        return fit_cell(get_setting(s), n, r, config)

    return run_cells(ds, out, fit, protocol.name, progress=progress, flush_seconds=flush_seconds, cluster=cluster)
