"""The learning coefficient, WBIC, evidence and Bayes factor along the paths to collapse.

The paths of :mod:`bayescmoe.studies.collapse_paths` (merging Delta -> 0 with a Gaussian frozen
expert, vanishing lam* -> 0 and the distinguishable controls), each point simulated, fitted (MAP,
NUTS) and given to :func:`~bayescmoe.studies.singular.singular_report` and
:func:`~bayescmoe.diagnostics.collapse.collapse_report`, beside the Fisher label of the truth. One
cell per (point, n) in a resumable store (:func:`bayescmoe.studies.store.run_cells`).

Background: docs/science.md, *When learning slows*, *What the papers leave open*.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.diagnostics.collapse import VERDICTS, collapse_report
from bayescmoe.studies.collapse_paths import Chains, PathPoint, fisher_label, fit_result
from bayescmoe.studies.singular import singular_report
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells

#: the numbers kept per (point, n); ``verdict`` (given the ladder's Bayes factor) and ``verdict_posterior``
#: (the posterior alone) are indices into ``VERDICTS``
FIELDS = (
    "value",
    "llc",
    "llc_se",
    "k_half",
    "wbic",
    "wbic_se",
    "log_evidence",
    "log_evidence_se",
    "log_evidence_ti",
    "log_evidence_ti_se",
    "log_evidence_laplace",
    "log_bayes_factor",
    "log_bayes_factor_savage_dickey",
    "waic",
    "elpd_loo",
    "divergences",
    "verdict",
    "verdict_posterior",
    "fisher_collapsed",
    "fisher_singular",
)


def point_name(point: PathPoint) -> str:
    """The cell label of a path point: ``path:index``."""
    return f"{point.path}:{point.index}"


def singular_cell(
    points: Mapping[str, PathPoint], chains: Chains, num_temperatures: int, seed: int, fisher_samples: int = 20000
):
    """The cell function of :func:`run_singular_paths`: (point name, n, replicate) -> its record."""
    names = list(points)

    def fit(name: str, n: int, replicate: int) -> dict[str, Any]:
        point = points[name]
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), names.index(name)), n)
        dt = fit_result(point, n, key, chains, log_likelihood=True)
        report = singular_report(dt, key=seed, num_temperatures=num_temperatures, **chains._asdict())
        label = fisher_label(point.spec, point.truth, n, jax.random.PRNGKey(seed), fisher_samples)
        numbers = report.to_dict()
        values = {k: float(v) for k, v in numbers.items() if k in FIELDS and k != "verdict"}
        values.update(
            value=point.value,
            verdict=float(VERDICTS.index(report.verdict)),
            verdict_posterior=float(VERDICTS.index(collapse_report(dt, evidence=None).verdict)),
            fisher_collapsed=float(label.collapsed),
            fisher_singular=float(label.singular),
        )
        return {"setting": name, "n": n, "replicate": replicate, "values": values}

    return fit


def run_singular_paths(
    points: Sequence[PathPoint],
    n_grid: Sequence[int],
    out: str | Path,
    *,
    chains: Chains,
    num_temperatures: int,
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (point, n) cell, resumed from ``out`` (a NetCDF store with its journal) if it exists."""
    by_name = {point_name(p): p for p in points}
    config = {"seed": seed, "num_temperatures": num_temperatures, **chains._asdict(), "points": list(by_name)}
    attrs = {"config": json.dumps(config), "verdicts": "|".join(VERDICTS)}
    fresh = labelled_dataset(list(by_name), list(n_grid), 1, ["-"], (), FIELDS, attrs)
    ds = open_store(Path(out), fresh)
    fit = singular_cell(by_name, chains, num_temperatures, seed)
    return run_cells(ds, Path(out), fit, "singular paths", progress=progress)


def singular_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per finished (point, n): path, value, n, the estimators, the verdict and the Fisher label."""
    rows = ds.isel(replicate=0).to_dataframe().reset_index()
    rows = rows[rows["done"] == 1].drop(columns=["done", "replicate"], errors="ignore")
    rows["path"] = rows["setting"].str.split(":").str[0]
    for column in ("verdict", "verdict_posterior"):
        rows[column] = [ds.attrs["verdicts"].split("|")[int(v)] for v in rows[column]]
    rows["llc_ratio"] = rows["llc"] / rows["k_half"]
    rows["wbic_minus_free_energy"] = rows["wbic"] + rows["log_evidence"]
    rows["ss_minus_ti"] = rows["log_evidence"] - rows["log_evidence_ti"]
    rows["ss_minus_ti_se"] = np.hypot(rows["log_evidence_se"], rows["log_evidence_ti_se"])
    return rows.sort_values(["path", "n", "value"], ascending=[True, True, False]).reset_index(drop=True)
