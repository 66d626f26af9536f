"""Users' data files: a CSV, ``.npz`` or NetCDF table of x, y and, for a frozen expert given by its
predictions, h0 (and nu0), read into the model's inputs (:func:`~bayescmoe.model.spec.model_inputs`).

CSV: a header ``x1, ..., xd, y`` (any order), plus ``h0`` and ``nu0`` where the spec's frozen
expert says ``"given"``. ``.npz``: arrays ``x`` (n, d), ``y`` (n,), ``h0``, ``nu0``. NetCDF: the
same variables at the root, or in ``constant_data`` and ``observed_data`` (a bayescmoe result or
any ArviZ file). Every problem is reported with the file and the row or column before any fit.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from bayescmoe.errors import BayescmoeError, require
from bayescmoe.model.spec import ModelSpec, check_data, input_columns, model_inputs

#: the file types :func:`read_data` reads, by suffix
SUFFIXES = (".csv", ".npz", ".nc")


def _columns(spec: ModelSpec, with_y: bool = True) -> tuple[str, ...]:
    """The columns a table for ``spec`` must have: x1..xd, y (``with_y``), and the given h0/nu0."""
    return (*input_columns(spec)[: spec.dim], *(("y",) if with_y else ()), *spec.frozen.given)


def _check_names(path: Path, spec: ModelSpec, names: list[str], require_y: bool) -> None:
    """The header names exactly the columns ``spec`` needs (no more, none missing, none twice); y is
    needed when ``require_y``, else allowed."""
    where = str(path)
    require(all(names), "data", f"{where}: the header has an empty column name")
    twice = sorted({name for name in names if names.count(name) > 1})
    require(not twice, "data", f"{where}: column(s) {twice} appear more than once")
    features = sorted((n for n in names if n.startswith("x") and n[1:].isdigit()), key=lambda n: int(n[1:]))
    if len(features) != spec.dim:
        raise BayescmoeError(
            "data", f"{where} has {len(features)} feature column(s) {features} but the spec has d = {spec.dim}"
        )
    columns = _columns(spec, with_y=require_y or "y" in names)
    missing = [name for name in columns if name not in names]
    require(not missing, "data", f"{where} has no column(s) {missing} (header: {', '.join(names)})")
    extra = [name for name in names if name not in columns]
    if extra:
        hint = ""
        if set(extra) & {"h0", "nu0"}:
            hint = "; set frozen.mean = 'given' (h0) or frozen.nu = 'given' (nu0) to use them"
        raise BayescmoeError("data", f"{where} has column(s) {extra} the spec does not use{hint}")


def _require_finite(path: Path, name: str, column: np.ndarray, rows: np.ndarray) -> None:
    """Name the first row (its label in ``rows``) where ``column`` is NaN or inf, or nu0 is not positive."""
    bad = np.flatnonzero(~np.isfinite(column) | ((column <= 0) if name == "nu0" else False))
    if bad.size:
        what = "a positive variance" if name == "nu0" else "finite"
        raise BayescmoeError("data", f"{path} row {rows[bad[0]]}, column {name}: {column[bad[0]]} (must be {what})")


def _read_csv(path: Path, spec: ModelSpec, require_y: bool) -> dict[str, np.ndarray]:
    """Columns of a CSV file; rows are numbered as lines of the file (the header is line 1)."""
    try:
        with path.open(newline="") as handle:
            lines = [(i, row) for i, row in enumerate(csv.reader(handle), start=1) if any(c.strip() for c in row)]
    except UnicodeDecodeError:
        raise BayescmoeError("data", f"{path} is not a text CSV file") from None
    require(len(lines) > 0, "data", f"{path} is empty")
    names = [cell.strip() for cell in lines[0][1]]
    _check_names(path, spec, names, require_y)
    require(len(lines) > 1, "data", f"{path} has a header but no rows")
    values = np.empty((len(lines) - 1, len(names)))
    for k, (line, row) in enumerate(lines[1:]):
        require(len(row) == len(names), "data", f"{path} row {line} has {len(row)} cells, the header {len(names)}")
        for j, cell in enumerate(row):
            try:
                values[k, j] = float(cell)
            except ValueError:
                raise BayescmoeError("data", f"{path} row {line}, column {names[j]}: not a number ({cell!r})") from None
            if not np.isfinite(values[k, j]):
                raise BayescmoeError("data", f"{path} row {line}, column {names[j]}: {cell.strip()} (must be finite)")
    table = {name: values[:, j] for j, name in enumerate(names)}
    if "nu0" in table:
        _require_finite(path, "nu0", table["nu0"], rows=np.array([line for line, _ in lines[1:]]))
    return table


def _real(path: Path, name: str, values: object) -> np.ndarray:
    """An array of a data file as floats, refused in one line unless it holds real numbers."""
    array = np.asarray(values)
    require(array.dtype.kind in "biuf", "data", f"{path}: {name} holds {array.dtype} values, not real numbers")
    return array.astype(float)


def _tabulate(path: Path, spec: ModelSpec, arrays: dict[str, np.ndarray], require_y: bool) -> dict[str, np.ndarray]:
    """Columns from arrays named x (n, d), y, h0, nu0 (``.npz`` and NetCDF); rows count from 0."""
    needed = ["x", "y"] if require_y else ["x"]
    require(all(k in arrays for k in needed), "data", f"{path} needs arrays {needed}; it has {sorted(arrays)}")
    x = _real(path, "x", arrays["x"])
    x = x[:, None] if x.ndim == 1 else x
    require(x.ndim == 2, "data", f"{path}: x must be 2-D (n, d), got shape {x.shape}")
    names = [f"x{j + 1}" for j in range(x.shape[1])] + [k for k in ("y", "h0", "nu0") if k in arrays]
    _check_names(path, spec, names, require_y)
    require(x.shape[0] > 0, "data", f"{path} has no rows")
    table = {f"x{j + 1}": x[:, j] for j in range(x.shape[1])}
    for name in names[x.shape[1] :]:
        column = _real(path, name, arrays[name])
        require(
            column.shape == (x.shape[0],), "data", f"{path}: {name} must have shape ({x.shape[0]},), got {column.shape}"
        )
        table[name] = column
    for name, column in table.items():
        _require_finite(path, name, column, rows=np.arange(x.shape[0]))
    return table


def _read_npz(path: Path, spec: ModelSpec, require_y: bool) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if isinstance(archive, np.ndarray):
            raise ValueError("it holds one array, as a .npy file does, not arrays named x and y")
        with archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:
        raise BayescmoeError("data", f"{path} is not a readable .npz archive ({err})") from None
    return _tabulate(path, spec, arrays, require_y)


def _read_netcdf(path: Path, spec: ModelSpec, require_y: bool) -> dict[str, np.ndarray]:
    try:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            arrays = {}
            for group in ("/", "constant_data", "observed_data"):
                if group == "/" or group in tree.children:
                    arrays.update({k: v.values for k, v in tree[group].to_dataset().data_vars.items()})
    except (OSError, ValueError) as err:
        raise BayescmoeError("data", f"{path} is not a readable NetCDF file ({err})") from None
    return _tabulate(path, spec, {k: v for k, v in arrays.items() if k in ("x", "y", "h0", "nu0")}, require_y)


def read_data(path: str | Path, spec: ModelSpec, *, require_y: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(inputs, y) of a data file for ``spec``: inputs of shape (n, spec.width), validated.

    ``require_y=False`` (new rows to predict) reads a file with or without a y column; y is then None
    when it has none."""
    path = Path(path)
    require(path.suffix in SUFFIXES, "data", f"{path}: unknown file type; use one of {list(SUFFIXES)}")
    require(not path.is_dir(), "data", f"{path} is a directory, not a data file")
    require(path.is_file(), "data", f"no such file: {path}")
    reader = {".csv": _read_csv, ".npz": _read_npz, ".nc": _read_netcdf}[path.suffix]
    table = reader(path, spec, require_y)
    x = np.column_stack([table[f"x{j + 1}"] for j in range(spec.dim)])
    inputs = model_inputs(spec, x, table.get("h0"), table.get("nu0"))
    y = table.get("y")
    inputs, checked = check_data(spec, inputs, np.zeros(len(inputs)) if y is None else y)
    return inputs, None if y is None else checked
