"""An extra prompt in Bayes: does the posterior empty it or duplicate a component? (docs/open-questions.md:
*1. An extra prompt in Bayes*)

Rousseau and Mengersen (2011) show for overfitted mixtures that the Dirichlet(alpha) prior on the weights
decides what the posterior does with a component the data do not need, against d/2, d the number of
parameters of one component: below it the extra component is emptied (its weight goes to 0), above it
the extra component tends to duplicate a real one. Here data with one prompt (the pick-rate design's
``k1``: f0 N(x1 - 0.5 x2, 0.25), the prompt N(0.5 x1 + 0.5 x2 + 1, 0.1) with weight 0.3, d_x = 2, so a
prompt has d = 4 parameters a, b, nu and d/2 = 2) are fitted with K = 2 prompts under a
Dirichlet(alpha0, alpha, alpha) over (w0, lam_0, lam_1), on a grid of alpha around d/2. Each fit (MAP, NUTS from it,
:func:`bayescmoe.relabel`) records the posterior of the smaller weight (median, and the share of draws
below :data:`EMPTY`), the two prompts' overlap (:func:`~bayescmoe.diagnostics.relabelling.prompt_overlap`:
ambiguous share and standardised distance), how far the lighter prompt sits from f0 (the largest
|posterior mean - f0's value| / posterior sd over its a, b and log nu) and what it did: ``emptied`` (the
smaller weight's median below :data:`EMPTY`), ``duplicated`` (the two prompts merged), ``merged with f0``
(the lighter prompt within :data:`AT_F0` sds of f0 in every coordinate: the frozen expert is Gaussian and
linear like the prompts, so an extra prompt can also copy it) or ``split`` (none of these); and the collapse
report's verdict on the lighter prompt (:func:`~bayescmoe.diagnostics.collapse.prompts_report` on the posterior
alone: vanishing, merging, both, weakly identified or identified). The frozen expert's weight is one more
Dirichlet component, with the same alpha or its own ``alpha0`` (does f0's concentration move the change?).
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

from bayescmoe.diagnostics.collapse import VERDICTS, prompts_report
from bayescmoe.diagnostics.relabelling import prompt_overlap, relabel
from bayescmoe.diagnostics.signals import standardized_distance
from bayescmoe.errors import require
from bayescmoe.model.params import by_label, flat_labels
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
#: the numbers kept per fit (``verdict``: the collapse report's on the lighter prompt, by index in VERDICTS)
FIELDS = ("small_median", "small_empty_share", "ambiguous_share", "distance", "frozen_distance", "outcome", "verdict")


def d_half() -> float:
    """d/2 of the theorem: half the parameters of one prompt of the design (all but its weight)."""
    _, fitted = choice_design(["k1"])
    return (len(flat_labels(fitted)) - 1) / 2


def setting_name(alpha: float, alpha0: float | None = None) -> str:
    """``alpha=0.5`` (symmetric Dirichlet) or ``alpha=0.5,alpha0=8`` (f0's own): the store's name of a prior."""
    return f"alpha={alpha:g}" + ("" if alpha0 is None else f",alpha0={alpha0:g}")


def concentrations(name: str) -> tuple[float, float]:
    """(alpha, alpha0) of a :func:`setting_name`; alpha0 is alpha when the name has none."""
    values = dict(part.split("=") for part in name.split(","))
    return float(values["alpha"]), float(values.get("alpha0", values["alpha"]))


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


def overfitted_cell(chains: Chains, seed: int):
    """The cell function of :func:`run_overfitted`: (a :func:`setting_name`, n, replicate) -> its record."""
    settings, fitted = choice_design(["k1"])
    spec, truth = settings["k1"]

    def one(name: str, n: int, replicate: int) -> dict[str, Any]:
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), n), replicate)
        x, y = simulate(key, spec, truth, n)  # the same data for every alpha
        alpha, alpha0 = concentrations(name)
        model = fitted.with_prompts(2).with_priors({"lam": ["dirichlet", alpha0, alpha, alpha]})
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
        verdict = prompts_report(dt).prompts[lighter].verdict
        values = {
            "small_median": median,
            "small_empty_share": float(np.mean(small < EMPTY)),
            "ambiguous_share": pair.ambiguous_share,
            "distance": pair.distance,
            "frozen_distance": at_f0,
            "outcome": float(OUTCOMES.index(outcome(median, pair.merged, at_f0))),
            "verdict": float(VERDICTS.index(verdict)),
        }
        return {"setting": name, "n": n, "replicate": replicate, "values": values}

    return one


def run_overfitted(
    priors: Sequence[str],
    n_grid: Sequence[int],
    replicates: int,
    out: str | Path,
    *,
    chains: Chains,
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (prior, n, replicate) cell, ``priors`` named by :func:`setting_name`, resumed from ``out`` if it exists."""
    for name in priors:
        try:
            alpha, alpha0 = concentrations(name)
        except (KeyError, ValueError):
            alpha = alpha0 = float("nan")
        require(alpha > 0 and alpha0 > 0, "priors", f"{name!r} is not 'alpha=A' or 'alpha=A,alpha0=B' with A, B > 0")
    config = {"seed": seed, **chains._asdict()}
    attrs = {"config": json.dumps(config), "outcomes": "|".join(OUTCOMES), "verdicts": "|".join(VERDICTS)}
    fresh = labelled_dataset(list(priors), list(n_grid), replicates, ["-"], (), FIELDS, attrs)
    ds = open_store(Path(out), fresh)
    cell = overfitted_cell(chains, seed)
    return run_cells(ds, Path(out), cell, "overfitted prompt", progress=progress)


def overfitted_fits(ds: xr.Dataset) -> pd.DataFrame:
    """One row per fit done: alpha, alpha0, ``symmetric`` (the prior names no alpha0), ``alpha0_label`` ("alpha"
    when symmetric), n, replicate, the smaller weight's posterior median and the outcome's name."""
    outcomes = ds.attrs["outcomes"].split("|")
    frame = ds[["small_median", "outcome", "done"]].drop_dims("param", errors="ignore").to_dataframe().reset_index()
    frame = frame[frame["done"] == 1]
    names = frame["setting"].astype(str)
    frame[["alpha", "alpha0"]] = [concentrations(name) for name in names]
    frame["symmetric"] = ~names.str.contains("alpha0")
    frame["alpha0_label"] = np.where(frame["symmetric"], "alpha", frame["alpha0"].map("{:g}".format))
    frame["outcome"] = [outcomes[int(code)] for code in frame["outcome"]]
    return frame.drop(columns=["done", "setting"]).reset_index(drop=True)


def code_counts(codes: np.ndarray, names: Sequence[str]) -> str:
    """``"prompt vanishing 3, identified 1"``: how often each named code occurs, the commonest first."""
    values, counts = np.unique(codes.astype(int), return_counts=True)
    return ", ".join(f"{names[v]} {c}" for c, v in sorted(zip(counts, values, strict=True), key=lambda cv: -cv[0]))


def overfitted_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per (prior, n): the concentrations, fits done, the share of each outcome, the median over the fits of the
    smaller weight's posterior median, of the prompts' standardised distance and of the lighter prompt's distance
    from f0, and the collapse report's verdicts on the lighter prompt."""
    outcomes, verdicts = ds.attrs["outcomes"].split("|"), ds.attrs["verdicts"].split("|")
    rows = []
    for name in ds["setting"].values:
        alpha, alpha0 = concentrations(str(name))
        for n in ds["n"].values:
            cell = ds.sel(setting=name, n=n)
            done = cell["done"].values == 1
            row: dict[str, Any] = {"alpha": alpha, "alpha0": alpha0, "n": int(n), "fits": int(done.sum())}
            codes = cell["outcome"].values[done]
            row |= {o: float(np.mean(codes == i)) if done.any() else np.nan for i, o in enumerate(outcomes)}
            for field in ("small_median", "distance", "frozen_distance"):
                row[field] = float(np.median(cell[field].values[done])) if done.any() else np.nan
            row["verdicts"] = code_counts(cell["verdict"].values[done], verdicts)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["alpha", "alpha0", "n"])
