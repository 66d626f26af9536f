"""Persistence of a sweep: one NetCDF dataset (setting, n, replicate) plus a write-ahead journal.

Each finished cell is appended (and fsync'ed) to ``<out>.journal.jsonl`` at once, and the dataset
is rewritten atomically every few seconds and at the end, after which the journal is dropped. A
sweep killed at any point, even by SIGKILL, therefore loses no finished cell: reopening replays
the journal into the dataset (a torn last line is ignored).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from bayescmoe.errors import BayescmoeError, require
from bayescmoe.files import atomic_write
from bayescmoe.model.spec import FEATURE_PARAMS
from bayescmoe.studies.engine import Cluster, cell_results

SCALARS = (
    "loglik_hat",
    "loglik_true",
    "converged",
    "stop",
    "degenerate",
    "below_truth",
    "n_iter",
    "seconds",
    "delta_star",
)


def journal_path(path: Path) -> Path:
    """Where the write-ahead journal of ``path`` lives."""
    return path.with_name(path.name + ".journal.jsonl")


def empty_dataset(
    settings: Sequence[str],
    n_grid: Sequence[int],
    replicates: int,
    dim: int,
    params: Sequence[str],
    groups: Sequence[str],
    attrs: Mapping[str, Any],
    rows: int | None = None,
) -> xr.Dataset:
    """All-NaN dataset with estimates, truths, errors, losses and fit records for every cell.

    ``rows``: for categorical adapters, the C - 1 rows of their a and b (dimension ``class``, classes 1..C-1).
    """
    coords = {
        "setting": list(settings),
        "n": list(n_grid),
        "replicate": np.arange(replicates),
        "feature": np.arange(dim),
    }
    cell = ("setting", "n", "replicate")
    shape = (len(settings), len(n_grid), replicates)
    per_class: tuple[tuple[str, ...], tuple[int, ...]] = ((), ())
    if rows is not None:
        coords["class"] = np.arange(1, rows + 1)
        per_class = (("class",), (rows,))
    data: dict[str, Any] = {}
    for p in params:
        lead = per_class if p in ("a", "b") else ((), ())
        dims, full = (*cell, *lead[0]), (*shape, *lead[1])
        dims, full = ((*dims, "feature"), (*full, dim)) if p in FEATURE_PARAMS else (dims, full)
        data[f"{p}_hat"] = (dims, np.full(full, np.nan))
        data[f"{p}_true"] = (dims, np.full(full, np.nan))
    for name in [*(f"err_{g}" for g in groups), "loss_D1", "loss_D2", *SCALARS]:
        data[name] = (cell, np.full(shape, np.nan))
    data["done"] = (cell, np.zeros(shape, dtype=np.int8))
    return xr.Dataset(data, coords=coords, attrs=dict(attrs))


def labelled_dataset(
    settings: Sequence[str],
    n_grid: Sequence[int],
    replicates: int,
    labels: Sequence[str],
    per_param: Sequence[str],
    per_cell: Sequence[str],
    attrs: Mapping[str, Any],
    label_dim: str = "param",
) -> xr.Dataset:
    """All-NaN store: ``per_param`` fields on (setting, n, replicate, ``label_dim``), ``per_cell`` ones per cell."""
    coords = {"setting": list(settings), "n": list(n_grid), "replicate": np.arange(replicates)}
    coords[label_dim] = list(labels)
    cell = ("setting", "n", "replicate")
    shape = (len(settings), len(n_grid), replicates)
    data: dict[str, Any] = {name: ((*cell, label_dim), np.full((*shape, len(labels)), np.nan)) for name in per_param}
    data.update({name: (cell, np.full(shape, np.nan)) for name in per_cell})
    data["done"] = (cell, np.zeros(shape, dtype=np.int8))
    return xr.Dataset(data, coords=coords, attrs=dict(attrs))


def record(ds: xr.Dataset, cell: Mapping[str, Any]) -> None:
    """Write one finished cell (a dict from :func:`bayescmoe.studies.sweep.fit_cell`) into ``ds`` in place."""
    where = {"setting": cell["setting"], "n": cell["n"], "replicate": cell["replicate"]}
    for name, value in cell["values"].items():
        ds[name].loc[where] = value
    ds["done"].loc[where] = 1


def append_journal(path: Path, cell: Mapping[str, Any]) -> None:
    """Append one cell to the journal and make it durable."""
    with open(journal_path(path), "a") as f:
        f.write(json.dumps(cell) + "\n")
        f.flush()
        os.fsync(f.fileno())


def flush(ds: xr.Dataset, path: Path) -> None:
    """Rewrite the dataset atomically, then drop the journal it now contains."""
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    journal_path(path).unlink(missing_ok=True)


def open_store(path: Path, fresh: xr.Dataset) -> xr.Dataset:
    """The sweep's dataset: ``fresh`` for a new run, else the saved one with its journal replayed.

    A saved sweep made with another configuration (its ``config`` attribute) is an error: resuming
    it would mix incompatible cells.
    """
    ds = fresh
    if path.exists():
        with xr.open_dataset(path, engine="h5netcdf") as saved:
            ds = saved.load()
        require(
            ds.attrs.get("config") == fresh.attrs["config"],
            "out",
            f"{path} holds a sweep with another configuration; choose another --out or delete it",
        )
        for name in ("setting", "n", "replicate"):
            require(list(ds[name].values) == list(fresh[name].values), "out", f"{path} has another {name} grid")
    journal = journal_path(path)
    if journal.exists():
        for line in journal.read_text().splitlines():
            try:
                cell = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn last line of a killed run
            try:
                record(ds, cell)
            except KeyError as err:
                raise BayescmoeError("out", f"{journal} does not match this sweep ({err})") from None
    return ds


def run_cells(
    ds: xr.Dataset,
    out: Path,
    fit: Callable[[str, int, int], Mapping[str, Any]],
    desc: str,
    *,
    progress: bool = True,
    flush_seconds: float = 20.0,
    cluster: Cluster | None = None,
) -> xr.Dataset:
    """Fit every cell of ``ds`` not yet done (n-major order), journalling each and flushing every few seconds.

    ``fit(setting, n, replicate)`` returns the cell's record (``setting``, ``n``, ``replicate``,
    ``values``); the dataset is flushed at the end even when a fit raises or the run is interrupted.
    With a ``cluster`` the cells are tasks on it (:mod:`bayescmoe.studies.engine`), recorded here as
    they finish; this process stays the only writer.
    """
    todo = [
        (str(s), int(n), int(r))
        for n in ds["n"].values
        for s in ds["setting"].values
        for r in ds["replicate"].values
        if not ds["done"].sel(setting=s, n=n, replicate=r)
    ]
    with cell_results(fit, todo, cluster) as cells:
        out.parent.mkdir(parents=True, exist_ok=True)
        last = time.monotonic()
        try:
            for cell in tqdm(cells, desc=desc, total=len(todo), unit="cell", disable=not progress):
                append_journal(out, cell)
                record(ds, cell)
                if time.monotonic() - last > flush_seconds:
                    flush(ds, out)
                    last = time.monotonic()
        finally:
            flush(ds, out)
    return ds
