"""Replicate studies of full Bayes against the MLE and the MAP.

For each setting of :mod:`bayescmoe.model.settings`, sample size n and replicate r: simulate the data of
the rate sweep's cell (same key, :func:`bayescmoe.studies.sweep.cell_key`, so the data are those of
``analyses/rates_p1.py`` with the same seed), fit the MLE (flat priors) and the MAP (the setting's
priors) from the truth, each with Wald standard errors from the observed information, then NUTS
from the MAP. Per scalar parameter (``a[0]`` labels) the store keeps the truth, both estimates with
their s.e., the posterior mean, median, sd and the equal-tailed ``level`` interval; per fit the
largest R-hat, the smallest bulk ESS and the divergences. One compiled sampler serves every
replicate of a (setting, n) (:func:`bayescmoe.inference.nuts.compiled_nuts`). Runs are resumable: each finished
replicate is journalled (:mod:`bayescmoe.studies.store`).

Background: docs/science.md, *What the papers leave open*.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescmoe.diagnostics.signals import rhat_ess
from bayescmoe.errors import require, require_positive_ints
from bayescmoe.inference.nuts import NutsRun, compiled_nuts
from bayescmoe.inference.optimize import fit_map, fit_mle
from bayescmoe.model.params import by_label, flat_labels
from bayescmoe.model.settings import Setting, get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.studies.sweep import cell_key

#: per-parameter records: the truth, the point estimates with s.e., the posterior summaries
PARAM_FIELDS = (
    "truth",
    "mle",
    "mle_se",
    "map",
    "map_se",
    "post_mean",
    "post_median",
    "post_sd",
    "post_lo",
    "post_hi",
)
#: per-fit records
FIT_FIELDS = ("rhat_max", "ess_bulk_min", "divergences", "mle_converged", "map_converged", "seconds")


@dataclass(frozen=True)
class StudyConfig:
    """What a replicate study fits (stored with its results; resuming needs the same config)."""

    settings: tuple[str, ...]
    n_grid: tuple[int, ...]
    replicates: int
    seed: int = 0
    num_warmup: int = 400
    num_samples: int = 300
    num_chains: int = 4
    level: float = 0.9

    def __post_init__(self) -> None:
        require(len(self.settings) > 0, "settings", "name at least one setting")
        specs = [get_setting(s).spec for s in self.settings]  # raises on an unknown name
        labels = {flat_labels(spec) for spec in specs}
        require(len(labels) == 1, "settings", "the settings of one study must share their parameters")
        require(len(self.n_grid) > 0, "n_grid", "give at least one sample size")
        require_positive_ints(
            replicates=self.replicates,
            num_warmup=self.num_warmup,
            num_samples=self.num_samples,
            num_chains=self.num_chains,
            **{f"n_grid[{i}]": n for i, n in enumerate(self.n_grid)},
        )
        require(0.0 < self.level < 1.0, "level", f"must lie in (0, 1), got {self.level}")
        object.__setattr__(self, "n_grid", tuple(int(n) for n in self.n_grid))  # JSON-ready

    @property
    def labels(self) -> tuple[str, ...]:
        """The scalar parameter labels every setting shares."""
        return flat_labels(get_setting(self.settings[0]).spec)

    def sampler(self, setting: Setting) -> NutsRun:
        """NUTS of one setting at this config's sizes (:func:`bayescmoe.inference.nuts.compiled_nuts`, cached)."""
        return compiled_nuts(
            setting.spec, num_warmup=self.num_warmup, num_samples=self.num_samples, num_chains=self.num_chains
        )


def new_dataset(config: StudyConfig) -> xr.Dataset:
    """All-NaN store: :data:`PARAM_FIELDS` per (setting, n, replicate, param), :data:`FIT_FIELDS` per fit."""
    attrs = {"config": json.dumps(asdict(config), sort_keys=True), "level": config.level}
    return labelled_dataset(
        config.settings, config.n_grid, config.replicates, config.labels, PARAM_FIELDS, FIT_FIELDS, attrs
    )


def _flat(values: dict[str, Any], labels: Sequence[str]) -> list[float]:
    scalars = by_label({k: np.asarray(v) for k, v in values.items()})
    return [float(scalars[label]) for label in labels]


def fit_replicate(setting: Setting, n: int, replicate: int, config: StudyConfig) -> dict[str, Any]:
    """Simulate one replicate, fit MLE, MAP and NUTS; a JSON-ready record for the store."""
    start = time.perf_counter()
    spec, labels = setting.spec, config.labels
    truth = setting.truth.at(spec, n)
    k_data, _ = jax.random.split(cell_key(config.seed, setting.name, n, replicate))
    k_mle, k_map, k_nuts = jax.random.split(jax.random.fold_in(k_data, 1), 3)
    x, y = simulate(k_data, spec, truth, n, setting.x_dist)
    mle = fit_mle(spec, x, y, key=k_mle, init=truth)
    map_ = fit_map(spec, x, y, key=k_map, init=truth)
    init = {k: jnp.asarray(v) for k, v in map_.params.items()}
    samples, diverging = config.sampler(setting)(k_nuts, x, y, init)
    by_chain = by_label({k: np.asarray(v) for k, v in samples.items()}, lead=2)
    draws = {label: v.ravel() for label, v in by_chain.items()}
    rhat, ess = rhat_ess(by_chain)
    tail = (1.0 - config.level) / 2.0
    post = np.array([draws[label] for label in labels])
    values: dict[str, Any] = {
        "truth": _flat(truth, labels),
        "mle": _flat(mle.params, labels),
        "mle_se": _flat(mle.se, labels),
        "map": _flat(map_.params, labels),
        "map_se": _flat(map_.se, labels),
        "post_mean": post.mean(axis=1).tolist(),
        "post_median": np.median(post, axis=1).tolist(),
        "post_sd": post.std(axis=1).tolist(),
        "post_lo": np.quantile(post, tail, axis=1).tolist(),
        "post_hi": np.quantile(post, 1.0 - tail, axis=1).tolist(),
        "rhat_max": max(rhat.values()),
        "ess_bulk_min": min(ess.values()),
        "divergences": float(np.sum(diverging)),
        "mle_converged": float(mle.converged),
        "map_converged": float(map_.converged),
    }
    values["seconds"] = time.perf_counter() - start
    return {"setting": setting.name, "n": n, "replicate": replicate, "values": values}


def run_study(
    config: StudyConfig,
    out: str | Path,
    *,
    progress: bool = True,
    flush_seconds: float = 20.0,
    cluster: Cluster | None = None,
) -> xr.Dataset:
    """Run (or resume) every unfinished replicate of ``config``, saving to ``out``; returns the store.

    ``cluster``: fit the replicates as tasks of a Dask cluster (:mod:`bayescmoe.studies.engine`).
    """
    out = Path(out)
    ds = open_store(out, new_dataset(config))

    def fit(s: str, n: int, r: int) -> dict[str, Any]:
        return fit_replicate(get_setting(s), n, r, config)

    return run_cells(ds, out, fit, "replicates", progress=progress, flush_seconds=flush_seconds, cluster=cluster)
