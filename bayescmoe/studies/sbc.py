"""Simulation-based calibration (SBC, Talts et al. 2018) of the whole simulate -> NUTS pipeline.

For each simulation b = 1..B of a setting (PAPERS.md section 5: is the posterior calibrated, and
what does NUTS do, when distinguishability fails?):

    theta_b ~ prior,  (x, y)_b ~ p(x) prod_i p(y_i | x_i, theta_b)  (n pairs),  NUTS on (x, y)_b,

then for each scalar parameter (labelled ``a[0]`` as in :func:`bayescmoe.diagnostics.signals.by_label`)
the rank r_b = #{l : theta_l < theta_b} of the truth among L posterior draws thinned to be about
independent. If the sampler draws from the exact posterior, r_b is uniform on {0, ..., L}
(Talts et al. 2018, Theorem 1), whatever the data. Ranks are binned into ``bins`` equal bins of
(L + 1) / bins values and compared with the uniform counts by a chi-square test; a setting
*passes* when every parameter's p-value exceeds 0.01 / (number of parameters) (Bonferroni: the
probability that a calibrated pipeline fails is at most 0.01).

Thinning: NUTS draws are autocorrelated, and ranks of autocorrelated draws are not uniform (too
many extreme ranks). Talts et al. thin by the effective sample size; we take L draws at the fixed
stride S / L through the S pooled draws (chain after chain) and record each parameter's bulk ESS:
when ESS >= L the stride is at least the integrated autocorrelation time S / ESS, so the kept draws
are about independent, and the ``min_ess`` variable shows the simulations where this fails.

NUTS starts from data only, never from theta_b: NumPyro's default uniform start in (-2, 2) on the
unconstrained scale (:func:`bayescmoe.inference.nuts.compiled_nuts` without ``init``). It needs no
extra fit per simulation and no second compiled program, and with proper priors the warmup finds
the posterior from there (checked by R-hat per simulation); a start at the truth would hide a
sampler that cannot find the mode, which is what SBC must catch.

Speed: :func:`bayescmoe.inference.nuts.compiled_nuts` compiles once per setting (about 8 s), then takes
0.07 s for 2 chains x 600 and 0.4 s for 4 chains x 1000 iterations at n = 500, against about
4.5 s for an ``MCMC.run`` per simulation.

Results live in one resumable :mod:`bayescmoe.studies.store` dataset with dims
(setting, n, replicate, param); each simulation's key is
``bayescmoe.studies.sweep.cell_key(seed, setting, n, replicate)``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayescmoe.diagnostics.signals import by_label, rhat_ess
from bayescmoe.errors import require, require_positive_ints
from bayescmoe.inference.nuts import NutsRun, compiled_nuts
from bayescmoe.model.numpyro_model import prior_distributions
from bayescmoe.model.priors import Prior
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.studies.sweep import cell_key

#: frozen expert of both settings: a0 = 1, b0 = 0, nu0 = 0.1 in d = 1 (as bayescmoe.studies.collapse_paths in d = 2)
FROZEN = {"mean": "linear", "weight": (1.0,), "bias": 0.0, "nu": 0.1}
#: the two SBC settings: frozen family and proper priors (InverseGamma(alpha, beta): mean beta / (alpha - 1))
SBC_SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Prior]]] = {
    # Student-t(5) f0 is distinguishable; the priors keep the prompt away from f0 (a0 = 1, b0 = 0)
    "distinguishable": (
        {"family": "student_t", "df": 5.0},
        {
            "lam": Prior("beta", (6.0, 6.0)),
            "a": Prior("normal", (-1.0, 0.3)),
            "b": Prior("normal", (0.5, 0.3)),
            "nu": Prior("inversegamma", (6.0, 0.5)),  # mean 0.1, sd 0.05
        },
    ),
    # Gaussian f0 and priors centred on it: the merging regime, lam weakly identified
    "collapsed": (
        {"family": "gaussian"},
        {
            "lam": Prior("beta", (2.0, 2.0)),
            "a": Prior("normal", (1.0, 0.05)),
            "b": Prior("normal", (0.0, 0.05)),
            "nu": Prior("inversegamma", (20.0, 1.9)),  # mean 0.1, sd 0.024
        },
    ),
}
#: familywise level of the uniformity verdict (Bonferroni over the parameters of a setting)
ALPHA = 0.01
#: R-hat above which a simulation counts as not converged
RHAT_LIMIT = 1.01


def sbc_spec(name: str) -> ModelSpec:
    """The spec of an SBC setting: d = 1, constant gate, linear experts, proper priors."""
    require(name in SBC_SETTINGS, "settings", f"unknown SBC setting {name!r}; choose from {list(SBC_SETTINGS)}")
    family, priors = SBC_SETTINGS[name]
    return ModelSpec(frozen=FrozenExpert(**FROZEN, **family), prompt=PromptExpert("linear", True), priors=priors)


def param_labels(spec: ModelSpec) -> list[str]:
    """Scalar labels of the parameters (``lam``, ``a[0]``, ``b``, ``nu``)."""
    return list(by_label({k: np.zeros(spec.shape(k)) for k in spec.param_names}))


@dataclass(frozen=True)
class SBCConfig:
    """One SBC run (stored as JSON with the results; resuming needs the same config)."""

    settings: tuple[str, ...] = tuple(SBC_SETTINGS)
    sims: int = 200
    n: int = 500
    seed: int = 0
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 4
    num_ranks: int = 99
    bins: int = 20
    labels: tuple[str, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        require(len(self.settings) > 0, "settings", "choose at least one setting")
        require(len(set(self.settings)) == len(self.settings), "settings", "a setting is named twice")
        for name in self.settings:
            sbc_spec(name)
        names = ("sims", "n", "num_warmup", "num_samples", "num_chains", "num_ranks", "bins")
        require_positive_ints(**{name: getattr(self, name) for name in names})
        require((self.num_ranks + 1) % self.bins == 0, "bins", f"must divide L + 1 = {self.num_ranks + 1}")
        draws = self.num_chains * self.num_samples
        require(draws >= self.num_ranks, "num_ranks", f"L = {self.num_ranks} exceeds the {draws} posterior draws")
        labels = tuple(dict.fromkeys(lab for s in self.settings for lab in param_labels(sbc_spec(s))))
        object.__setattr__(self, "labels", labels)


def draw_prior(key: jax.Array, spec: ModelSpec, shape: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    """theta from the spec's (proper) priors, one key per parameter; ``shape``: leading axes of draws."""
    priors = prior_distributions(spec)
    keys = jax.random.split(key, len(priors))
    return {name: np.asarray(law.sample(k, shape)) for (name, law), k in zip(priors.items(), keys, strict=True)}


def thin(draws: np.ndarray, num: int) -> np.ndarray:
    """``num`` draws at the fixed stride S / num through the S pooled draws (chains one after the other)."""
    flat = np.asarray(draws).reshape(-1)
    require(flat.size >= num, "num_ranks", f"cannot keep {num} of {flat.size} draws")
    return flat[((np.arange(num) + 0.5) * flat.size / num).astype(int)]


def rank_statistic(draws: np.ndarray, truth: float, num: int) -> int:
    """Talts et al. 2018 rank: how many of ``num`` thinned draws lie below the truth, in {0, ..., num}."""
    return int(np.sum(thin(draws, num) < truth))


def uniformity_pvalue(ranks: np.ndarray, num: int, bins: int) -> float:
    """Chi-square p-value of ranks in {0..num} against the uniform, in ``bins`` equal bins of (num + 1) / bins."""
    ranks = np.asarray(ranks, dtype=int)
    require((num + 1) % bins == 0, "bins", f"must divide L + 1 = {num + 1}")
    require(ranks.size > 0 and ranks.min() >= 0 and ranks.max() <= num, "ranks", f"must lie in 0..{num}")
    counts = np.bincount(ranks // ((num + 1) // bins), minlength=bins)
    return float(stats.chisquare(counts).pvalue)


def rank_band(num_sims: int, bins: int, prob: float = 0.99) -> tuple[float, float]:
    """Central ``prob`` interval of a bin's count under uniform ranks: Binomial(num_sims, 1 / bins) (Talts fig. 1)."""
    law = stats.binom(num_sims, 1.0 / bins)
    return float(law.ppf((1 - prob) / 2)), float(law.ppf((1 + prob) / 2))


def pit_values(ranks: np.ndarray, num: int, seed: int = 0) -> np.ndarray:
    """Ranks in {0..num} -> (rank + U) / (num + 1), U ~ Uniform(0, 1): exactly Uniform(0, 1) under calibration."""
    ranks = np.asarray(ranks, dtype=float)
    return (ranks + np.random.default_rng(seed).uniform(size=ranks.shape)) / (num + 1)


def passes(pvalues: Sequence[float], alpha: float = ALPHA) -> bool:
    """Bonferroni verdict: uniform ranks for every parameter, each p > alpha / (number of parameters)."""
    p = np.asarray(pvalues, dtype=float)
    return bool(np.all(p > alpha / p.size))


def simulation(fit: NutsRun, name: str, spec: ModelSpec, replicate: int, config: SBCConfig) -> dict[str, Any]:
    """One SBC simulation: theta from the prior, data, NUTS (``fit`` from :func:`compiled_nuts`), ranks, checks."""
    start = time.perf_counter()
    k_theta, k_data, k_nuts = jax.random.split(cell_key(config.seed, name, config.n, replicate), 3)
    theta = draw_prior(k_theta, spec)
    x, y = simulate(k_data, spec, theta, config.n)
    samples, diverging = fit(k_nuts, x, y)
    post = by_label({k: np.asarray(v) for k, v in samples.items()}, lead=2)
    truth = by_label(theta)
    labels = list(config.labels)
    rhats, esss = rhat_ess({lab: post[lab] for lab in labels})
    rhat, ess = [rhats[lab] for lab in labels], [esss[lab] for lab in labels]
    values = {
        "rank": [rank_statistic(post[lab], float(truth[lab]), config.num_ranks) for lab in labels],
        "truth": [float(truth[lab]) for lab in labels],
        "post_mean": [float(post[lab].mean()) for lab in labels],
        "post_sd": [float(post[lab].std()) for lab in labels],
        "rhat": rhat,
        "ess_bulk": ess,
        "max_rhat": max(rhat),
        "min_ess": min(ess),
        "divergences": int(np.asarray(diverging).sum()),
        "seconds": time.perf_counter() - start,
    }
    return {"setting": name, "n": config.n, "replicate": replicate, "values": values}


PER_PARAM = ("rank", "truth", "post_mean", "post_sd", "rhat", "ess_bulk")
PER_SIM = ("max_rhat", "min_ess", "divergences", "seconds")


def new_dataset(config: SBCConfig) -> xr.Dataset:
    """The all-NaN results dataset of ``config``: dims (setting, n, replicate[, param])."""
    attrs = {"config": json.dumps(asdict(config), sort_keys=True)}
    ds = labelled_dataset(config.settings, [config.n], config.sims, config.labels, PER_PARAM, PER_SIM, attrs)
    ds["rank"].attrs["description"] = f"#{{thinned posterior draws < truth}}, in 0..{config.num_ranks}"
    return ds


def run_sbc(
    config: SBCConfig, out: str | Path, *, progress: bool = True, flush_seconds: float = 20.0
) -> tuple[xr.Dataset, int]:
    """Run (or resume) every unfinished simulation of ``config``, saving to ``out``: (dataset, simulations run).

    A tqdm bar runs over the simulations when ``progress``; each setting's NUTS compiles on its first one.
    """
    out = Path(out)
    ds = open_store(out, new_dataset(config))
    todo = int((ds["done"] == 0).sum())

    def fit(name: str, n: int, replicate: int) -> dict[str, Any]:
        spec = sbc_spec(name)
        sizes = {"num_warmup": config.num_warmup, "num_samples": config.num_samples, "num_chains": config.num_chains}
        return simulation(compiled_nuts(spec, **sizes), name, spec, replicate, config)  # cached per spec

    ds = run_cells(ds, out, fit, "sbc", progress=progress, flush_seconds=flush_seconds)
    return ds, todo


def config_of(ds: xr.Dataset) -> SBCConfig:
    """The :class:`SBCConfig` stored in a results dataset."""
    raw = json.loads(ds.attrs["config"])
    raw.pop("labels", None)
    return SBCConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def summary(ds: xr.Dataset) -> pd.DataFrame:
    """Per setting and parameter: chi-square p, the setting's verdict, shares with R-hat > 1.01 / divergences."""
    config = config_of(ds)
    rows = []
    for name in config.settings:
        cell = ds.sel(setting=name, n=config.n)
        done = cell["done"].values.astype(bool)
        labels = param_labels(sbc_spec(name))
        pvalues = {
            lab: uniformity_pvalue(cell["rank"].sel(param=lab).values[done], config.num_ranks, config.bins)
            if done.any()
            else np.nan
            for lab in labels
        }
        verdict = "passes" if done.any() and passes(list(pvalues.values())) else "fails"
        for lab in labels:
            rows.append(
                {
                    "setting": name,
                    "param": lab,
                    "sims": int(done.sum()),
                    "chi2_p": pvalues[lab],
                    "threshold": ALPHA / len(labels),
                    "verdict": verdict,
                    "rhat_share": float(np.mean(cell["max_rhat"].values[done] > RHAT_LIMIT)) if done.any() else np.nan,
                    "divergent_share": float(np.mean(cell["divergences"].values[done] > 0)) if done.any() else np.nan,
                    "min_ess": float(np.min(cell["ess_bulk"].sel(param=lab).values[done])) if done.any() else np.nan,
                }
            )
    return pd.DataFrame(rows)


def ranks_of(ds: xr.Dataset, name: str) -> Mapping[str, np.ndarray]:
    """The finished simulations' ranks of each parameter of setting ``name``."""
    config = config_of(ds)
    cell = ds.sel(setting=name, n=config.n)
    done = cell["done"].values.astype(bool)
    return {lab: cell["rank"].sel(param=lab).values[done].astype(int) for lab in param_labels(sbc_spec(name))}


def rank_histogram(ds: xr.Dataset, name: str) -> xr.Dataset:
    """Rank counts of setting ``name`` per (param, bin), the 99% band of a bin's count, the chi-square p per param."""
    config = config_of(ds)
    ranks = ranks_of(ds, name)
    width = (config.num_ranks + 1) // config.bins
    sims = len(next(iter(ranks.values())))
    low, high = rank_band(sims, config.bins)
    counts = [np.bincount(r // width, minlength=config.bins) for r in ranks.values()]
    pvalues = [uniformity_pvalue(r, config.num_ranks, config.bins) if r.size else np.nan for r in ranks.values()]
    coords = {"param": list(ranks), "bin": np.arange(config.bins) * width}
    out = xr.Dataset({"count": (("param", "bin"), np.array(counts)), "chi2_p": ("param", pvalues)}, coords=coords)
    out.attrs.update(
        setting=name, sims=sims, n=config.n, num_ranks=config.num_ranks, width=width, band_low=low, band_high=high
    )
    return out


def pit_tree(ds: xr.Dataset, name: str) -> xr.DataTree:
    """The jittered PIT values of :func:`pit_values` for each parameter of ``name``, as ArviZ's ``prior_sbc`` group."""
    config = config_of(ds)
    pit = {label: pit_values(r, config.num_ranks, config.seed) for label, r in ranks_of(ds, name).items()}
    data = xr.Dataset({label: (("chain", "draw"), v[None, :]) for label, v in pit.items()})
    return xr.DataTree.from_dict({"prior_sbc": data})
