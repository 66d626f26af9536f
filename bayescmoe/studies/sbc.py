"""Simulation-based calibration (SBC, Talts et al. 2018) of the whole simulate -> NUTS pipeline.

For each simulation b = 1..B of a setting (is the posterior calibrated, and what does NUTS do,
when distinguishability fails? docs/science.md, *What the papers leave open*):

    theta_b ~ prior,  (x, y)_b ~ p(x) prod_i p(y_i | x_i, theta_b)  (n pairs),  NUTS on (x, y)_b,

then for each quantity f -- every scalar parameter (labelled ``a[0]`` as in
:func:`bayescmoe.diagnostics.signals.by_label`) and the data-dependent log-likelihood
f(theta, y) = sum_i log p(y_i | x_i, theta) (Modrak et al. 2023: it sees a posterior that is
wrong in the joint, e.g. along a non-identified ridge, where each marginal rank can still look
uniform) -- the rank of f(theta_b) among posterior draws of f. If the sampler draws from the exact
posterior, the rank is uniform (Talts et al. 2018, Theorem 1), whatever the data.

Two readings of the ranks, each with its thinning (NUTS draws are autocorrelated, and ranks of
autocorrelated draws are not uniform):

- **PIT values and arviz-stats' uniformity test** (the verdict, and what ``az.plot_ecdf_pit`` shows):
  the draws are thinned by arviz-stats' automatic factor S / min(bulk ESS, tail ESS) (Säilynoja,
  Bürkner, Vehtari 2022), the truth's rank r among the L_b kept draws becomes the PIT value
  (r + U) / (L_b + 1), U ~ Uniform(0, 1), exactly uniform under calibration, and
  ``uniformity_test`` (method ``pot_c``) gives a p-value per quantity. A setting *passes* when every
  p exceeds 0.01 / (number of quantities) (Bonferroni: a calibrated pipeline fails with
  probability at most 0.01).
- **Rank histograms** (Talts et al. fig. 1): L draws at the fixed stride S / L through the S pooled
  draws, the ranks in {0..L} binned into ``bins`` equal bins, a chi-square p per quantity
  (``chi2_p``); each quantity's bulk ESS is stored (``min_ess`` flags simulations with ESS < L).

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
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import thin as auto_thin
from scipy import stats

from bayescmoe.diagnostics.signals import rhat_ess
from bayescmoe.errors import require, require_positive_ints
from bayescmoe.inference.nuts import NutsRun, compiled_nuts
from bayescmoe.model.likelihood import log_likelihood
from bayescmoe.model.params import by_label, prior_distributions
from bayescmoe.model.priors import Prior
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.studies.engine import Cluster
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
#: data-dependent test quantities ranked beside the parameters (Modrak et al. 2023)
TEST_QUANTITIES = ("loglik",)
#: arviz-stats' uniformity test of the PIT values (as ``az.plot_ecdf_pit`` computes it)
UNIFORMITY_METHOD = "pot_c"


def sbc_spec(name: str) -> ModelSpec:
    """The spec of an SBC setting: d = 1, constant gate, linear experts, proper priors."""
    require(name in SBC_SETTINGS, "settings", f"unknown SBC setting {name!r}; choose from {list(SBC_SETTINGS)}")
    family, priors = SBC_SETTINGS[name]
    return ModelSpec(frozen=FrozenExpert(**FROZEN, **family), prompt=PromptExpert("linear", True), priors=priors)


def param_labels(spec: ModelSpec) -> list[str]:
    """Scalar labels of the parameters (``lam``, ``a[0]``, ``b``, ``nu``)."""
    return list(by_label({k: np.zeros(spec.shape(k)) for k in spec.param_names}))


def quantity_labels(spec: ModelSpec) -> list[str]:
    """What SBC ranks: the scalar parameters, then :data:`TEST_QUANTITIES`."""
    return [*param_labels(spec), *TEST_QUANTITIES]


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
        labels = tuple(dict.fromkeys(lab for s in self.settings for lab in quantity_labels(sbc_spec(s))))
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


@partial(jax.jit, static_argnames="spec")
def _draw_log_likelihoods(
    spec: ModelSpec, draws: Mapping[str, jax.Array], inputs: jax.Array, y: jax.Array
) -> jax.Array:
    return jax.vmap(lambda params: jnp.sum(log_likelihood(spec, params, inputs, y)))(draws)


def log_likelihood_draws(
    spec: ModelSpec, samples: Mapping[str, np.ndarray], inputs: jax.Array, y: jax.Array
) -> np.ndarray:
    """sum_i log p(y_i | x_i, theta) at every draw of ``samples`` (chain, draw, ...), shape (chain, draw)."""
    lead = np.shape(next(iter(samples.values())))[:2]
    flat = {k: jnp.reshape(jnp.asarray(v), (-1, *np.shape(v)[2:])) for k, v in samples.items()}
    return np.asarray(_draw_log_likelihoods(spec, flat, inputs, y)).reshape(lead)


def auto_thinned_pit(draws: np.ndarray, truth: float, rng: np.random.Generator) -> tuple[float, int]:
    """(PIT value, draws kept): (r + U) / (L + 1), r of the L draws (chain, draw) that arviz-stats'
    automatic thinning keeps lie below the truth, U ~ Uniform(0, 1)."""
    kept = np.asarray(auto_thin(np.asarray(draws), factor="auto", chain_axis=0, draw_axis=1)).ravel()
    return float((np.sum(kept < truth) + rng.uniform()) / (kept.size + 1)), int(kept.size)


def pit_pvalues(pits: Mapping[str, np.ndarray]) -> dict[str, float]:
    """arviz-stats' uniformity test (:data:`UNIFORMITY_METHOD`) of each quantity's PIT values."""
    data = xr.Dataset({label: ("sim", np.asarray(v, dtype=float)) for label, v in pits.items()})
    pvalues, _, _ = data.azstats.uniformity_test(dim="sim", method=UNIFORMITY_METHOD)
    return {label: float(pvalues[label]) for label in pits}


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
    post["loglik"] = log_likelihood_draws(spec, samples, x, y)
    at_truth = jnp.sum(log_likelihood(spec, {k: jnp.asarray(v) for k, v in theta.items()}, x, y))
    truth = {**by_label(theta), "loglik": float(at_truth)}
    labels = list(config.labels)
    rhats, esss = rhat_ess({lab: post[lab] for lab in labels})
    rhat, ess = [rhats[lab] for lab in labels], [esss[lab] for lab in labels]
    rng = np.random.default_rng([config.seed, replicate])
    pit, kept = zip(*(auto_thinned_pit(post[lab], float(truth[lab]), rng) for lab in labels), strict=True)
    values = {
        "rank": [rank_statistic(post[lab], float(truth[lab]), config.num_ranks) for lab in labels],
        "pit": list(pit),
        "kept": list(kept),
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


PER_PARAM = ("rank", "pit", "kept", "truth", "post_mean", "post_sd", "rhat", "ess_bulk")
PER_SIM = ("max_rhat", "min_ess", "divergences", "seconds")


def new_dataset(config: SBCConfig) -> xr.Dataset:
    """The all-NaN results dataset of ``config``: dims (setting, n, replicate[, param])."""
    attrs = {"config": json.dumps(asdict(config), sort_keys=True)}
    ds = labelled_dataset(config.settings, [config.n], config.sims, config.labels, PER_PARAM, PER_SIM, attrs)
    ds["rank"].attrs["description"] = f"#{{thinned posterior draws < truth}}, in 0..{config.num_ranks}"
    ds["pit"].attrs["description"] = "(#{draws kept by arviz-stats' automatic thinning < truth} + U) / (kept + 1)"
    return ds


def run_sbc(
    config: SBCConfig,
    out: str | Path,
    *,
    progress: bool = True,
    flush_seconds: float = 20.0,
    cluster: Cluster | None = None,
) -> tuple[xr.Dataset, int]:
    """Run (or resume) every unfinished simulation of ``config``, saving to ``out``: (dataset, simulations run).

    A tqdm bar runs over the simulations when ``progress``; each setting's NUTS compiles on its first one
    (in each worker process, with a Dask ``cluster``: :mod:`bayescmoe.studies.engine`).
    """
    out = Path(out)
    ds = open_store(out, new_dataset(config))
    todo = int((ds["done"] == 0).sum())

    def fit(name: str, n: int, replicate: int) -> dict[str, Any]:
        spec = sbc_spec(name)
        sizes = {"num_warmup": config.num_warmup, "num_samples": config.num_samples, "num_chains": config.num_chains}
        return simulation(compiled_nuts(spec, **sizes), name, spec, replicate, config)  # cached per spec

    ds = run_cells(ds, out, fit, "sbc", progress=progress, flush_seconds=flush_seconds, cluster=cluster)
    return ds, todo


def config_of(ds: xr.Dataset) -> SBCConfig:
    """The :class:`SBCConfig` stored in a results dataset."""
    raw = json.loads(ds.attrs["config"])
    raw.pop("labels", None)
    return SBCConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def summary(ds: xr.Dataset) -> pd.DataFrame:
    """Per setting and quantity: arviz-stats' PIT uniformity p (the verdict), the rank histogram's
    chi-square p, shares of simulations with R-hat > 1.01 / divergences, the fewest draws kept."""
    config = config_of(ds)
    rows = []
    for name in config.settings:
        cell = ds.sel(setting=name, n=config.n)
        done = cell["done"].values.astype(bool)
        labels = quantity_labels(sbc_spec(name))
        ranks = ranks_of(ds, name)
        pit_p = pit_pvalues(pits_of(ds, name)) if done.any() else dict.fromkeys(labels, np.nan)
        verdict = "passes" if done.any() and passes(list(pit_p.values())) else "fails"
        for lab in labels:
            per = {k: cell[k].sel(param=lab).values[done] for k in ("ess_bulk", "kept")}
            rows.append(
                {
                    "setting": name,
                    "param": lab,
                    "sims": int(done.sum()),
                    "pit_p": pit_p[lab],
                    "chi2_p": uniformity_pvalue(ranks[lab], config.num_ranks, config.bins) if done.any() else np.nan,
                    "threshold": ALPHA / len(labels),
                    "verdict": verdict,
                    "rhat_share": float(np.mean(cell["max_rhat"].values[done] > RHAT_LIMIT)) if done.any() else np.nan,
                    "divergent_share": float(np.mean(cell["divergences"].values[done] > 0)) if done.any() else np.nan,
                    "min_ess": float(np.min(per["ess_bulk"])) if done.any() else np.nan,
                    "min_kept": float(np.min(per["kept"])) if done.any() else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _finished(ds: xr.Dataset, name: str, variable: str) -> Mapping[str, np.ndarray]:
    """``variable`` of the finished simulations of setting ``name``, per quantity."""
    config = config_of(ds)
    cell = ds.sel(setting=name, n=config.n)
    done = cell["done"].values.astype(bool)
    return {lab: cell[variable].sel(param=lab).values[done] for lab in quantity_labels(sbc_spec(name))}


def ranks_of(ds: xr.Dataset, name: str) -> Mapping[str, np.ndarray]:
    """The finished simulations' fixed-stride ranks of each quantity of setting ``name``."""
    return {lab: r.astype(int) for lab, r in _finished(ds, name, "rank").items()}


def pits_of(ds: xr.Dataset, name: str) -> Mapping[str, np.ndarray]:
    """The finished simulations' PIT values (automatic thinning) of each quantity of setting ``name``."""
    return _finished(ds, name, "pit")


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
    """The PIT values of :func:`auto_thinned_pit` for each quantity of ``name``, as ArviZ's ``prior_sbc`` group."""
    data = xr.Dataset({label: (("chain", "draw"), v[None, :]) for label, v in pits_of(ds, name).items()})
    return xr.DataTree.from_dict({"prior_sbc": data})
