"""One setting end to end: simulate, fit MLE (flat priors), MAP (the spec's priors) and NUTS.

This is what every ``models/`` script and ``bayescmoe fit`` run: the seed splits into one key per
stage, and the resulting DataTree records the setting, the seeds, the sizes and the timings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import xarray as xr

from bayescmoe.errors import require, require_positive_ints
from bayescmoe.nuts import fit_nuts
from bayescmoe.optimize import fit_map, fit_mle
from bayescmoe.results import to_datatree
from bayescmoe.settings import Setting
from bayescmoe.simulate import simulate


@dataclass(frozen=True)
class RunConfig:
    """Sizes and seeds of one run (the flags of every model script)."""

    n: int | None = None
    seed: int = 0
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 4
    init: str = "map"
    log_likelihood: bool = True
    progress_bar: bool | None = None

    def __post_init__(self) -> None:
        require(self.init in ("map", "prior"), "init", "must be 'map' (start NUTS at the MAP) or 'prior'")
        if self.n is not None:
            require_positive_ints(n=self.n)
        require_positive_ints(num_warmup=self.num_warmup, num_samples=self.num_samples, num_chains=self.num_chains)


def _timed[T](timings: dict[str, float], label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` and record its wall time in ``timings[label]``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[label] = time.perf_counter() - start
    return out


def run_setting(setting: Setting, config: RunConfig = RunConfig()) -> xr.DataTree:
    """Simulate from ``setting`` at size n (its default unless given) and fit it three ways."""
    n = config.n or setting.n
    truth = setting.truth.at(setting.spec, n)
    k_data, k_mle, k_map, k_nuts = jax.random.split(jax.random.PRNGKey(config.seed), 4)
    x, y = simulate(k_data, setting.spec, truth, n, setting.x_dist)
    timings: dict[str, float] = {}
    mle = _timed(timings, "mle_seconds", fit_mle, setting.spec, x, y, key=k_mle, init=truth)
    map_ = _timed(timings, "map_seconds", fit_map, setting.spec, x, y, key=k_map, init=truth)
    mcmc = _timed(
        timings,
        "nuts_seconds",
        fit_nuts,
        setting.spec,
        x,
        y,
        key=k_nuts,
        num_warmup=config.num_warmup,
        num_samples=config.num_samples,
        num_chains=config.num_chains,
        init=map_.params if config.init == "map" else None,
        progress_bar=config.progress_bar,
    )
    attrs = {
        "setting": setting.name,
        "paper": setting.paper,
        "regime": setting.regime,
        "description": setting.description,
        "setting_config": json.dumps(setting.to_config()),
        "n": n,
        "x_dist": setting.x_dist,
        "seed": config.seed,
        "num_warmup": config.num_warmup,
        "num_samples": config.num_samples,
        "num_chains": config.num_chains,
        "nuts_init": config.init,
        **timings,
    }
    return to_datatree(
        setting.spec,
        x,
        y,
        mcmc=mcmc,
        estimates=[mle, map_],
        truth=truth,
        attrs=attrs,
        log_likelihood=config.log_likelihood,
    )
