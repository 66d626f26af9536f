"""An extra prompt in Bayes: does the posterior empty it or duplicate a component? (docs/open-questions.md:
*1. An extra prompt in Bayes*)

Rousseau and Mengersen (2011) show for overfitted mixtures that the Dirichlet(alpha) prior on the weights
decides what the posterior does with a component the data do not need, against d/2, d the number of
parameters of one component: below it the extra component is emptied (its weight goes to 0), above it
the extra component tends to duplicate a real one. Here data with one prompt (the pick-rate design's
``k1``: f0 N(x1 - 0.5 x2, 0.25), the prompt N(0.5 x1 + 0.5 x2 + 1, 0.1) with weight 0.3, d_x = 2, so a
prompt has d = 4 parameters a, b, nu and d/2 = 2) are fitted with K = 2 prompts under a symmetric
Dirichlet(alpha) over (w0, lam_0, lam_1), on a grid of alpha around d/2. Each fit (MAP, NUTS from it,
:func:`bayescmoe.relabel`) records the posterior of the smaller weight (median, and the share of draws
below :data:`EMPTY`), the two prompts' overlap (:func:`~bayescmoe.diagnostics.relabelling.prompt_overlap`:
ambiguous share and standardised distance), how far the lighter prompt sits from f0 (the largest
|posterior mean - f0's value| / posterior sd over its a, b and log nu) and what it did: ``emptied`` (the
smaller weight's median below :data:`EMPTY`), ``duplicated`` (the two prompts merged), ``merged with f0``
(the lighter prompt within :data:`AT_F0` sds of f0 in every coordinate: the frozen expert is Gaussian and
linear like the prompts, so an extra prompt can also copy it) or ``split`` (none of these). The frozen
expert's weight is one more Dirichlet component here, with the same alpha.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.diagnostics.relabelling import prompt_overlap, relabel
from bayescmoe.diagnostics.signals import standardized_distance
from bayescmoe.model.params import by_label
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.prompts import choice_design
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.workflow.fitting import fit

#: the smaller weight counts as emptied below this (a prompt of 0.3 weight holds 100 times more)
EMPTY = 0.003
#: the lighter prompt "sits on" f0 when every coordinate's posterior mean is within this many sds of f0's
AT_F0 = 2.0
#: what a fit did with the extra prompt, by code
OUTCOMES = ("emptied", "duplicated", "merged with f0", "split")
#: the numbers kept per fit
FIELDS = ("small_median", "small_empty_share", "ambiguous_share", "distance", "frozen_distance", "outcome")


def setting_name(alpha: float) -> str:
    """``alpha=0.5``: the store's name of a concentration."""
    return f"alpha={alpha:g}"


def outcome(small_median: float, merged: bool, frozen_distance: float) -> str:
    """What a fit did with the extra prompt (module docstring), tested in the order of :data:`OUTCOMES`."""
    if small_median < EMPTY:
        return "emptied"
    if merged:
        return "duplicated"
    return "merged with f0" if frozen_distance < AT_F0 else "split"


def frozen_distance(post: xr.Dataset, k: int, frozen: dict[str, np.ndarray]) -> float:
    """max over prompt k's a, b and log nu of |posterior mean - f0's value| / posterior sd
    (:func:`~bayescmoe.diagnostics.signals.standardized_distance` per scalar)."""
    log = lambda name, v: np.log(v) if name == "nu" else np.asarray(v)  # noqa: E731
    draws = by_label({n: log(n, post[n].isel(prompt=k).values) for n in ("a", "b", "nu")}, lead=2)
    at = by_label({n: log(n, frozen[n]) for n in ("a", "b", "nu")})
    return max(standardized_distance(draws[label].ravel(), float(at[label])) for label in draws)


def overfitted_cell(alphas: Sequence[float], chains: Chains, seed: int):
    """The cell function of :func:`run_overfitted`: (alpha's name, n, replicate) -> its record."""
    settings, fitted = choice_design(["k1"])
    spec, truth = settings["k1"]
    by_name = {setting_name(a): a for a in alphas}

    def one(name: str, n: int, replicate: int) -> dict[str, Any]:
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), n), replicate)
        x, y = simulate(key, spec, truth, n)  # the same data for every alpha
        model = fitted.with_prompts(2).with_priors({"lam": ["dirichlet", by_name[name]]})
        dt = fit(
            model, np.asarray(x), np.asarray(y), methods=("map", "nuts"), key=seed + replicate, evidence=None,
            predictive=False, prior_draws=0, progress_bar=False, **chains._asdict(),
        )  # fmt: skip
        dt = relabel(dt)
        lam = dt["posterior"]["lam"].values
        small = np.min(lam, axis=-1)
        lighter = int(np.argmin(lam.mean(axis=(0, 1))))
        pair = prompt_overlap(dt)[0]
        median = float(np.median(small))
        at_f0 = frozen_distance(dt["posterior"].to_dataset(), lighter, model.frozen.params())
        values = {
            "small_median": median,
            "small_empty_share": float(np.mean(small < EMPTY)),
            "ambiguous_share": pair.ambiguous_share,
            "distance": pair.distance,
            "frozen_distance": at_f0,
            "outcome": float(OUTCOMES.index(outcome(median, pair.merged, at_f0))),
        }
        return {"setting": name, "n": n, "replicate": replicate, "values": values}

    return one


def run_overfitted(
    alphas: Sequence[float],
    n_grid: Sequence[int],
    replicates: int,
    out: str | Path,
    *,
    chains: Chains,
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (alpha, n, replicate) cell, resumed from ``out`` if it exists."""
    config = {"seed": seed, "alphas": list(alphas), **chains._asdict()}
    attrs = {"config": json.dumps(config), "outcomes": "|".join(OUTCOMES)}
    fresh = labelled_dataset([setting_name(a) for a in alphas], list(n_grid), replicates, ["-"], (), FIELDS, attrs)
    ds = open_store(Path(out), fresh)
    cell = overfitted_cell(alphas, chains, seed)
    return run_cells(ds, Path(out), cell, "overfitted prompt", progress=progress)


def overfitted_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per (alpha, n): fits done, the share of each outcome, and the medians of the smaller weight's posterior
    median, of the prompts' standardised distance and of the lighter prompt's distance from f0."""
    outcomes = ds.attrs["outcomes"].split("|")
    rows = []
    for name in ds["setting"].values:
        for n in ds["n"].values:
            cell = ds.sel(setting=name, n=n)
            done = cell["done"].values == 1
            row: dict[str, Any] = {"alpha": float(str(name).split("=")[1]), "n": int(n), "fits": int(done.sum())}
            codes = cell["outcome"].values[done]
            row |= {o: float(np.mean(codes == i)) if done.any() else np.nan for i, o in enumerate(outcomes)}
            row["small_median"] = float(np.median(cell["small_median"].values[done])) if done.any() else np.nan
            for name_ in ("distance", "frozen_distance"):
                row[name_] = float(np.median(cell[name_].values[done])) if done.any() else np.nan
            rows.append(row)
    return pd.DataFrame(rows).set_index(["alpha", "n"])
