"""How many prompts? Fit K = 0..K_max prompts to one dataset and compare (docs/prompts.md: *How many prompts?*).

K = 0 is the frozen expert alone. It has no free parameter, so every criterion is exact there: its
leave-one-out score is sum_i log f0(y_i | x_i) (:func:`~bayescmoe.diagnostics.predictive.frozen_baseline`),
its log evidence is the same sum, its WBIC and free energy minus it, its learning coefficient 0. For
K = 1..K_max, :func:`~bayescmoe.workflow.fitting.fit` runs the MAP and NUTS from it on
``spec.with_prompts(K)``, and each criterion of :data:`CRITERIA` scores the fit:

- ``loo``: PSIS-LOO elpd (Vehtari, Gelman and Gabry 2017), ranked by ``az.compare``; the best K wins.
- ``loo-2se``: the smallest K whose elpd lies within two standard errors of the difference (``az.compare``'s
  ``dse``) of the best one: LOO's usual guard against preferring a model by noise.
- ``wbic``: WBIC (Watanabe 2013), E[-l] over the power posterior at t = 1/log n with the spec's prior,
  started at the MAP; an estimate of the free energy -log Z; the smallest wins.
- ``llc``: the free energy's asymptotic form F ~ -l(w*) + lambda log n (Watanabe 2009) with lambda the
  local learning coefficient at w* (Lau et al. 2025; w* the likelihood's local maximum next to the MAP,
  :func:`~bayescmoe.studies.singular.local_learning_coefficient`); the smallest wins.
- ``evidence``: log Z by stepping-stone over the tempered ladder (about 33 NUTS runs per K,
  :func:`~bayescmoe.studies.singular.log_evidence`); the largest wins.

:func:`choose_prompts` runs them on one dataset (``bayescmoe prompts``); :func:`run_prompt_choice` measures how
often each picks the true K on simulated data, in a resumable store (``analyses/choose_prompts.py``).
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import jax
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from bayescmoe.defaults import GAMMA, NUM_TEMPERATURES, PROMPT_CRITERIA
from bayescmoe.diagnostics.predictive import frozen_baseline, frozen_log_scores
from bayescmoe.diagnostics.singular import wbic
from bayescmoe.errors import FitWarning, require, require_positive_ints
from bayescmoe.inference.predictive import proper_prior
from bayescmoe.inference.tempered import power_posterior
from bayescmoe.model.params import flat_labels
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.results.datatree import data_of, params_of
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.singular import local_learning_coefficient, log_evidence
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.workflow.fitting import fit

#: the criteria of :func:`choose_prompts` (module docstring), and those it runs by default (``evidence`` costs
#: about 33 NUTS runs per K)
CRITERIA = PROMPT_CRITERIA
DEFAULT_CRITERIA = PROMPT_CRITERIA[:4]
#: the criteria that need proper priors (they integrate over the prior)
NEED_PROPER = ("wbic", "evidence")


@dataclass(frozen=True)
class PromptsChoice:
    """The comparison of K = 0..K_max prompts: one row per K, each criterion's pick, and the fits (K >= 1)."""

    table: pd.DataFrame
    picks: dict[str, int]
    results: tuple[xr.DataTree, ...]

    def render(self) -> str:
        """The table and the picks, as text."""
        shown = self.table.to_string(float_format=lambda v: f"{v:.2f}")
        picks = ", ".join(f"{c} {k}" for c, k in self.picks.items())
        return f"{shown}\n\nK picked by each criterion: {picks}"

    def __str__(self) -> str:
        return self.render()


def _frozen_row(frozen: np.ndarray) -> dict[str, float]:
    """K = 0, the frozen expert alone: every criterion exact (module docstring); its LOO columns come with the
    others' from ``az.compare`` of :func:`~bayescmoe.diagnostics.predictive.frozen_baseline`."""
    total = float(np.sum(frozen))
    return {
        "params": 0,
        "wbic": -total,
        "wbic_se": 0.0,
        "llc": 0.0,
        "llc_se": 0.0,
        "free_energy": -total,
        "log_evidence": total,
        "log_evidence_se": 0.0,
        "divergences": 0,
    }


def _scores(
    dt: xr.DataTree,
    spec: ModelSpec,
    criteria: Sequence[str],
    *,
    key: int,
    gamma: float,
    num_temperatures: int,
    sampler: Mapping[str, int],
) -> dict[str, float]:
    """The criteria other than LOO of one fit with K >= 1 prompts (module docstring), each run from its MAP."""
    x, y = data_of(dt)
    start = params_of(dt, "map")
    divergences = int(dt["sample_stats"]["diverging"].sum())
    row: dict[str, float] = {"params": len(flat_labels(spec))}
    if "wbic" in criteria:
        power = 1.0 / math.log(y.shape[0])
        tempered = power_posterior(spec, x, y, [power], key=key + 1, init=start, progress=False, **sampler)[0]
        row |= dict(zip(("wbic", "wbic_se"), wbic(tempered), strict=True))
        divergences += tempered.divergences
    if "llc" in criteria:
        llc, _, mle, local = local_learning_coefficient(
            spec, x, y, start, key=key + 2, gamma=gamma, progress=False, **sampler
        )
        row |= {"llc": llc.value, "llc_se": llc.se, "free_energy": -mle.log_likelihood + llc.value * math.log(len(y))}
        divergences += local.divergences
    if "evidence" in criteria:
        ss, _, steps = log_evidence(
            spec, x, y, init=start, key=key + 3, num_temperatures=num_temperatures, progress=False, **sampler
        )
        row |= {"log_evidence": ss.value, "log_evidence_se": ss.se}
        divergences += sum(s.divergences for s in steps)
    return row | {"divergences": divergences}


def _loo_of(results: Sequence[xr.DataTree]) -> dict[int, Any]:
    """PSIS-LOO of each fit by its K; a K whose PSIS fails (ArviZ raises, e.g. on draws that repeat a value
    in every tail: a stuck chain) is left out, its row of the table NaN."""
    out = {}
    for k, dt in enumerate(results, start=1):
        try:
            out[k] = az.loo(dt, pointwise=True)
        except ValueError as err:
            warnings.warn(f"PSIS-LOO failed for K = {k} ({err}): its LOO columns are NaN", FitWarning, stacklevel=3)
    return out


def picks_of(table: pd.DataFrame, criteria: Sequence[str]) -> dict[str, int]:
    """The K each criterion picks from a table of :func:`choose_prompts` (module docstring)."""
    out = {}
    for criterion in criteria:
        if criterion == "loo":
            out[criterion] = int(table["elpd_loo"].idxmax())
        elif criterion == "loo-2se":
            close = table["elpd_loo"].max() - table["elpd_loo"] <= 2.0 * table["dse"]
            out[criterion] = int(table.index[close].min())
        elif criterion == "wbic":
            out[criterion] = int(table["wbic"].idxmin())
        elif criterion == "llc":
            out[criterion] = int(table["free_energy"].idxmin())
        else:
            out[criterion] = int(table["log_evidence"].idxmax())
    return out


def require_choice(spec: ModelSpec, max_prompts: int, criteria: Sequence[str]) -> tuple[str, ...]:
    """Refuse, before any fit, what :func:`choose_prompts` cannot do; the criteria as a tuple."""
    require_positive_ints(max_prompts=max_prompts)
    criteria = tuple(criteria)
    unknown = sorted(set(criteria) - set(CRITERIA))
    require(not unknown, "criteria", f"unknown criterion(s) {unknown}; choose from {list(CRITERIA)}")
    require(len(criteria) > 0, "criteria", f"name at least one of {list(CRITERIA)}")
    needs = [c for c in criteria if c in NEED_PROPER]
    require(
        not needs or proper_prior(spec.with_prompts(max_prompts)),
        "priors",
        f"{', '.join(needs)} integrate over the prior: give every parameter a proper prior, or drop them",
    )
    return criteria


def choose_prompts(
    spec: ModelSpec,
    x: Any,
    y: Any = None,
    h0: Any = None,
    nu0: Any = None,
    *,
    max_prompts: int = 3,
    criteria: Sequence[str] = DEFAULT_CRITERIA,
    key: int = 0,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    gamma: float = GAMMA,
    num_temperatures: int = NUM_TEMPERATURES,
    progress_bar: bool | None = None,
) -> PromptsChoice:
    """Fit K = 1..``max_prompts`` prompts, each like ``spec``'s first (:meth:`ModelSpec.with_prompts`), and
    score K = 0..``max_prompts`` by ``criteria`` (module docstring).

    Data as :func:`~bayescmoe.workflow.fitting.fit` takes them. Each K is one ``fit`` (MAP, then NUTS from it:
    ``num_chains`` x (``num_warmup`` + ``num_samples``)) plus one NUTS run per criterion of the same size (the
    ladder of ``evidence``: ``num_temperatures`` + 1). The table has one row per K: ``params`` (free
    parameters), ``elpd_loo`` and its s.e., ``az.compare``'s ``elpd_diff`` (<= 0) and ``dse`` against the best K,
    ``wbic``, ``llc``, ``free_energy``, ``log_evidence`` with their s.e., and the divergent transitions of
    the K's runs. Warnings of the fits (R-hat, ESS, divergences) are the samplers' own: an overfitted K
    often earns them.
    """
    criteria = require_choice(spec, max_prompts, criteria)
    sampler = {"num_warmup": num_warmup, "num_samples": num_samples, "num_chains": num_chains}
    show = sys.stderr.isatty() if progress_bar is None else progress_bar
    results, rows = [], {}
    for k in tqdm(range(1, max_prompts + 1), desc="prompts", unit="K", disable=not show, leave=False):
        spec_k = spec.with_prompts(k)
        dt = fit(
            spec_k, x, y, h0, nu0, methods=("map", "nuts"), key=key, evidence=None, predictive=False,
            prior_draws=0, progress_bar=False, **sampler,
        )  # fmt: skip
        results.append(dt)
        rows[k] = _scores(
            dt, spec_k, criteria, key=key, gamma=gamma, num_temperatures=num_temperatures, sampler=sampler
        )
    rows = {0: _frozen_row(frozen_log_scores(results[0])), **rows}
    table = pd.DataFrame.from_dict(rows, orient="index")
    compared = az.compare({0: frozen_baseline(results[0]), **_loo_of(results)}, round_to="none")
    table.index.name = "K"
    compared = compared.reindex(table.index)
    table["elpd_loo"] = compared["elpd"]
    table["elpd_loo_se"] = compared["se"]
    table["elpd_diff"] = compared["elpd_diff"]
    table["dse"] = compared["dse"]
    head = ["params", "elpd_loo", "elpd_loo_se", "elpd_diff", "dse"]
    table = table[head + [c for c in table.columns if c not in head]]
    return PromptsChoice(table, picks_of(table, criteria), tuple(results))


#: the design of the pick-rate study: f0 N(x1 - 0.5 x2, 0.25) in d = 2, prompts N(a.x + b, 0.1)
FROZEN = FrozenExpert("gaussian", "linear", (1.0, -0.5), 0.0, 0.25)
PROMPT_A = {"a": (0.5, 0.5), "b": 1.0, "nu": 0.1}
#: a second prompt far from the first (``distinct``) or 1.6 of its noise sds away in b only (``close``)
PROMPT_B = {"distinct": {"a": (-1.0, 0.5), "b": -1.0, "nu": 0.1}, "close": {"a": (0.5, 0.5), "b": 1.5, "nu": 0.1}}
#: setting -> (true K, weights of prompts A and B, which second prompt)
CHOICE_DESIGN = {
    "k0": (0, (0.0, 0.0), "distinct"),
    "k1": (1, (0.3, 0.0), "distinct"),
    "k2-distinct": (2, (0.3, 0.2), "distinct"),
    "k2-close": (2, (0.3, 0.2), "close"),
}


def choice_design(names: Sequence[str] = tuple(CHOICE_DESIGN)) -> tuple[dict[str, tuple[ModelSpec, dict]], ModelSpec]:
    """The pick-rate study's settings (name -> (K = 2 spec, truth)) and the spec whose K is chosen (one prompt)."""
    fitted = ModelSpec(FROZEN, PromptExpert())
    two = fitted.with_prompts(2)
    out = {}
    for name in names:
        require(name in CHOICE_DESIGN, "settings", f"unknown setting {name!r}; choose from {list(CHOICE_DESIGN)}")
        _, lam, second = CHOICE_DESIGN[name]
        b = PROMPT_B[second]
        out[name] = (two, {"lam": np.asarray(lam), **{k: np.asarray([PROMPT_A[k], b[k]]) for k in PROMPT_A}})
    return out, fitted


#: the numbers kept per K of each cell of :func:`run_prompt_choice`
PER_K = ("elpd_loo", "elpd_diff", "dse", "wbic", "free_energy", "llc", "log_evidence")


def prompt_choice_cell(
    settings: Mapping[str, tuple[ModelSpec, Mapping[str, Any]]],
    fitted: ModelSpec,
    max_prompts: int,
    criteria: Sequence[str],
    chains: Chains,
    seed: int,
):
    """The cell function of :func:`run_prompt_choice`: (setting, n, replicate) -> its record."""
    names = list(settings)

    def one(name: str, n: int, replicate: int) -> dict[str, Any]:
        spec, truth = settings[name]
        cell_key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), names.index(name)), replicate)
        x, y = simulate(jax.random.fold_in(cell_key, n), spec, truth, n)
        choice = choose_prompts(
            fitted, np.asarray(x), np.asarray(y), max_prompts=max_prompts, criteria=criteria,
            key=seed + 1000 * replicate, progress_bar=False, **chains._asdict(),
        )  # fmt: skip
        values = {f"pick_{c}": float(k) for c, k in choice.picks.items()}
        values |= {f: choice.table[f].to_numpy(float).tolist() for f in PER_K if f in choice.table}
        return {"setting": name, "n": n, "replicate": replicate, "values": values}

    return one


def run_prompt_choice(
    settings: Mapping[str, tuple[ModelSpec, Mapping[str, Any]]],
    fitted: ModelSpec,
    n_grid: Sequence[int],
    replicates: int,
    out: str | Path,
    *,
    max_prompts: int = 3,
    criteria: Sequence[str] = DEFAULT_CRITERIA,
    chains: Chains,
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (setting, n, replicate) cell: data simulated from the setting's (spec, truth), K chosen by
    :func:`choose_prompts` with ``fitted``'s prompt, resumed from ``out`` if it exists."""
    criteria = require_choice(fitted, max_prompts, criteria)
    config = {"seed": seed, "max_prompts": max_prompts, "criteria": list(criteria), **chains._asdict()}
    attrs = {"config": json.dumps(config), "settings": json.dumps({k: s.num_prompts for k, (s, _) in settings.items()})}
    fields = [f"pick_{c}" for c in criteria]
    labels = [str(k) for k in range(max_prompts + 1)]
    fresh = labelled_dataset(list(settings), list(n_grid), replicates, labels, PER_K, fields, attrs, label_dim="K")
    ds = open_store(Path(out), fresh)
    cell = prompt_choice_cell(settings, fitted, max_prompts, criteria, chains, seed)
    return run_cells(ds, Path(out), cell, "how many prompts", progress=progress)


def pick_rates(ds: xr.Dataset, true_k: Mapping[str, int]) -> pd.DataFrame:
    """Per (setting, n): fits done, for each criterion the share of fits that picked the true K, and the share
    of fits in which the criteria did not all pick the same K (``disagree``)."""
    rows = []
    criteria = json.loads(ds.attrs["config"])["criteria"]
    for setting in ds["setting"].values:
        for n in ds["n"].values:
            cell = ds.sel(setting=setting, n=n)
            done = cell["done"].values == 1
            picks = np.array([cell[f"pick_{c}"].values[done] for c in criteria])
            row = {"setting": str(setting), "true K": true_k[str(setting)], "n": int(n), "fits": int(done.sum())}
            row |= {
                c: float(np.mean(p == row["true K"])) if done.any() else np.nan
                for c, p in zip(criteria, picks, strict=True)
            }
            row["disagree"] = float(np.mean(np.ptp(picks, axis=0) > 0)) if done.any() else np.nan
            rows.append(row)
    return pd.DataFrame(rows).set_index(["setting", "n"])
