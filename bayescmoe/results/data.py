"""Users' data files: a CSV, ``.npz`` or NetCDF table of features, a target and, for a frozen expert
given by its predictions, h0 (and nu0), read into the model's inputs (:func:`~bayescmoe.model.spec.model_inputs`).

CSV: a header naming the columns (any order). By default the features are the columns ``x1..xd``,
the target ``y`` and the frozen expert's given columns ``h0`` and ``nu0``; :class:`Columns` names
others (``--features age,bmi,bp --target progression --h0 pred --nu0 var`` on the command line), and
a column the spec does not use is an error unless :attr:`Columns.ignore` names it. The delimiter is
found from the header (comma, semicolon, tab or bar) unless given. ``.npz``: arrays ``x`` (n, d),
``y`` (n,), ``h0``, ``nu0``. NetCDF: the same variables at the root, or in ``constant_data`` and
``observed_data`` (a bayescmoe result or any ArviZ file); the feature coordinate of ``x`` names its
columns. Every problem is reported with the file and the row or column before any fit.

A categorical model (docs/classification.md): a CSV target holds class labels, kept as strings
(:func:`bayescmoe.fit` codes them); a frozen classifier given by its predictions needs C columns h0,
named ``<h0>_0..<h0>_{C-1}`` (``h0_0, h0_1, ...`` by default) or listed (``--h0 p_cat,p_dog,p_emu``), in
the order of the class codes; a ``.npz`` or NetCDF h0 is one (n, C) array.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from bayescmoe.errors import BayescmoeError, require
from bayescmoe.model.spec import ModelSpec, check_data, given_columns, model_inputs

#: the file types :func:`read_data` reads, by suffix
SUFFIXES = (".csv", ".npz", ".nc")
#: the delimiters a CSV header is tried with, when none is given
DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Columns:
    """Which columns of a data file are what: the d ``features`` (default: those named x1..xd, or the
    feature coordinate of a NetCDF ``x``), the ``target``, the frozen expert's ``h0`` and ``nu0`` (read
    only where the spec says ``"given"``; a frozen classifier's C columns h0: :meth:`given_names`),
    columns to ``ignore``, and the CSV ``delimiter`` (found from the header when None)."""

    features: tuple[str, ...] | None = None
    target: str = "y"
    h0: str = "h0"
    nu0: str = "nu0"
    ignore: tuple[str, ...] = field(default=())
    delimiter: str | None = None

    def given_names(self, spec: ModelSpec) -> dict[str, list[str]]:
        """The columns of each given role (h0, nu0): one named column, or a frozen classifier's C columns h0, listed
        comma-separated or named by the prefix ``h0``: ``<h0>_0..<h0>_{C-1}``."""
        out = {}
        for role in spec.frozen.given:
            name, width = getattr(self, role), spec.frozen.given_width(role)
            names = [n.strip() for n in name.split(",")] if "," in name else [name]
            if width > 1 and len(names) == 1:
                names = [f"{name}_{c}" for c in range(width)]
            require(len(names) == width, role, f"names {len(names)} column(s) {names} for C = {width} classes")
            out[role] = names
        return out

    def select(self, where: str, spec: ModelSpec, names: Sequence[str], default: Sequence[str], require_y: bool):
        """(features, target or None, given columns) among the header ``names``; ``default``: the features
        when none are named. Every column must be used or ignored, none twice."""
        require(all(names), "data", f"{where}: the header has an empty column name")
        twice = sorted({name for name in names if list(names).count(name) > 1})
        require(not twice, "data", f"{where}: column(s) {twice} appear more than once")
        features = list(self.features or default)
        if len(features) != spec.dim:
            hint = "" if self.features else "; name the features (--features a,b,... or features=[...])"
            raise BayescmoeError(
                "data",
                f"{where} has {len(features)} feature column(s) {features} but the spec has d = {spec.dim}{hint}",
            )
        given = [name for role_names in self.given_names(spec).values() for name in role_names]
        target = self.target if require_y or self.target in names else None
        wanted = [*features, *([target] if target else []), *given]
        missing = [name for name in wanted if name not in names]
        require(not missing, "data", f"{where} has no column(s) {missing} (header: {', '.join(names)})")
        unknown = [name for name in self.ignore if name not in names]
        require(not unknown, "ignore", f"{where} has no column(s) {unknown} to ignore (header: {', '.join(names)})")
        extra = [name for name in names if name not in wanted and name not in self.ignore]
        if extra:
            unused_given = set(extra) & {self.h0, self.nu0}
            hint = "; set frozen.mean = 'given' (h0) or frozen.nu = 'given' (nu0) to use them"
            hint = hint if unused_given else "; name them as features, target, h0 or nu0, or ignore them"
            raise BayescmoeError("data", f"{where} has column(s) {extra} the spec does not use{hint}")
        return features, target, given


def _require_finite(path: Path, name: str, column: np.ndarray, rows: np.ndarray, variance: bool = False) -> None:
    """Name the first row (its label in ``rows``) where ``column`` is NaN or inf, or a variance is not positive."""
    bad = np.flatnonzero(~np.isfinite(column) | ((column <= 0) if variance else False))
    if bad.size:
        what = "a positive variance" if variance else "finite"
        raise BayescmoeError("data", f"{path} row {rows[bad[0]]}, column {name}: {column[bad[0]]} (must be {what})")


def _delimiter(header: str, given: str | None) -> str:
    """The CSV delimiter: ``given``, else the one of :data:`DELIMITERS` that splits the header most."""
    if given is not None:
        require(len(given) == 1, "delimiter", f"must be one character, got {given!r}")
        return given
    return max(DELIMITERS, key=lambda d: (header.count(d), d == ","))


def _read_csv(path: Path, spec: ModelSpec, columns: Columns, require_y: bool) -> dict:
    """The selected columns of a CSV file; rows are numbered as lines of the file (the header is line 1)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (spreadsheet exports) is not a name
    except UnicodeDecodeError:
        raise BayescmoeError("data", f"{path} is not a text CSV file") from None
    delimiter = _delimiter(text.split("\n", 1)[0], columns.delimiter)
    parsed = csv.reader(text.splitlines(), delimiter=delimiter)
    lines = [(i, row) for i, row in enumerate(parsed, start=1) if any(c.strip() for c in row)]
    require(len(lines) > 0, "data", f"{path} is empty")
    names = [cell.strip() for cell in lines[0][1]]
    where = f"{path} (header read with delimiter {delimiter!r}: {', '.join(names)})"
    default = sorted((n for n in names if n.startswith("x") and n[1:].isdigit()), key=lambda n: int(n[1:]))
    features, target, given = columns.select(where, spec, names, default, require_y)
    require(len(lines) > 1, "data", f"{path} has a header but no rows")
    labels = target if spec.categorical else None  # class labels stay strings
    used = {*features, *([target] if target else []), *given} - {labels}
    values = np.empty((len(lines) - 1, len(names)))
    for k, (line, row) in enumerate(lines[1:]):
        require(len(row) == len(names), "data", f"{path} row {line} has {len(row)} cells, the header {len(names)}")
        for j, cell in enumerate(row):
            if names[j] not in used:
                continue
            try:
                values[k, j] = float(cell)
            except ValueError:
                raise BayescmoeError("data", f"{path} row {line}, column {names[j]}: not a number ({cell!r})") from None
            if not np.isfinite(values[k, j]):
                raise BayescmoeError("data", f"{path} row {line}, column {names[j]}: {cell.strip()} (must be finite)")
    column = {name: values[:, j] for j, name in enumerate(names)}
    if labels is not None:
        column[labels] = np.array([row[names.index(labels)].strip() for _, row in lines[1:]])
    if "nu0" in spec.frozen.given:
        rows = np.array([line for line, _ in lines[1:]])
        _require_finite(path, columns.nu0, column[columns.nu0], rows, variance=True)
    return _table(spec, column, features, target, columns)


def _table(spec: ModelSpec, column: dict, features: list[str], target: str | None, columns: Columns) -> dict:
    """What :func:`read_data` assembles: ``features`` (names), ``x`` (n, d), ``y`` (or None), the given columns
    (a frozen classifier's h0 (n, C))."""
    table = {"features": features, "x": np.column_stack([column[f] for f in features])}
    table["y"] = None if target is None else column[target]
    for role, names in columns.given_names(spec).items():
        table[role] = column[names[0]] if len(names) == 1 else np.column_stack([column[name] for name in names])
    return table


def _real(path: Path, name: str, values: object) -> np.ndarray:
    """An array of a data file as floats, refused in one line unless it holds real numbers."""
    array = np.asarray(values)
    require(array.dtype.kind in "biuf", "data", f"{path}: {name} holds {array.dtype} values, not real numbers")
    return array.astype(float)


def _tabulate(
    path: Path, spec: ModelSpec, arrays: dict, labels: Sequence[str] | None, columns: Columns, require_y: bool
) -> dict:
    """The selected columns of arrays named x (n, d), y, h0, nu0 (``.npz`` and NetCDF); rows count from 0.

    The columns of x are named by ``labels`` (a NetCDF feature coordinate), else x1..xd."""
    require("x" in arrays, "data", f"{path} needs an array 'x'; it has {sorted(arrays)}")
    x = _real(path, "x", arrays["x"])
    x = x[:, None] if x.ndim == 1 else x
    require(x.ndim == 2, "data", f"{path}: x must be 2-D (n, d), got shape {x.shape}")
    names = [str(v) for v in labels] if labels is not None else [f"x{j + 1}" for j in range(x.shape[1])]
    column = {name: x[:, j] for j, name in enumerate(names)}
    others = {columns.target: "y", columns.h0: "h0", columns.nu0: "nu0"}
    for name, key in others.items():
        if key not in arrays:
            continue
        if key == "h0" and spec.categorical and "h0" in spec.frozen.given:  # one (n, C) array of C columns
            values, split = _real(path, name, arrays[key]), columns.given_names(spec)["h0"]
            shape = (x.shape[0], len(split))
            require(values.shape == shape, "data", f"{path}: {name} must have shape {shape}, got {values.shape}")
            column |= {n: values[:, c] for c, n in enumerate(split)}
            continue
        categorical_y = key == "y" and spec.categorical and np.asarray(arrays[key]).dtype.kind in "OUS"
        values = np.asarray(arrays[key]).astype(str) if categorical_y else _real(path, name, arrays[key])
        require(
            values.shape == (x.shape[0],), "data", f"{path}: {name} must have shape ({x.shape[0]},), got {values.shape}"
        )
        column[name] = values
    features, target, given = columns.select(str(path), spec, list(column), names, require_y)
    require(x.shape[0] > 0, "data", f"{path} has no rows")
    rows = np.arange(x.shape[0])
    for name in (*features, *([target] if target else []), *given):
        if column[name].dtype.kind == "f":
            variance = name == columns.nu0 and "nu0" in spec.frozen.given
            _require_finite(path, name, column[name], rows, variance=variance)
    return _table(spec, column, features, target, columns)


def _read_npz(path: Path, spec: ModelSpec, columns: Columns, require_y: bool) -> dict:
    try:
        archive = np.load(path, allow_pickle=False)
        if isinstance(archive, np.ndarray):
            raise ValueError("it holds one array, as a .npy file does, not arrays named x and y")
        with archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:
        raise BayescmoeError("data", f"{path} is not a readable .npz archive ({err})") from None
    return _tabulate(path, spec, arrays, None, columns, require_y)


def _read_netcdf(path: Path, spec: ModelSpec, columns: Columns, require_y: bool) -> dict:
    try:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            variables = {}
            for group in ("/", "constant_data", "observed_data"):
                if group == "/" or group in tree.children:
                    variables.update(tree[group].to_dataset().load().data_vars.items())
    except (OSError, ValueError) as err:
        raise BayescmoeError("data", f"{path} is not a readable NetCDF file ({err})") from None
    x = variables.get("x")
    labels = None
    if x is not None and x.ndim == 2 and x.dims[1] in x.coords and x.coords[x.dims[1]].dtype.kind in "UO":
        labels = x.coords[x.dims[1]].values
    arrays = {k: v.values for k, v in variables.items() if k in ("x", "y", "h0", "nu0")}
    return _tabulate(path, spec, arrays, labels, columns, require_y)


def read_data(
    path: str | Path,
    spec: ModelSpec,
    *,
    features: Sequence[str] | None = None,
    target: str = "y",
    h0: str = "h0",
    nu0: str = "nu0",
    ignore: Sequence[str] = (),
    delimiter: str | None = None,
    require_y: bool = True,
) -> tuple[xr.DataArray, np.ndarray | None]:
    """(inputs, y) of a data file for ``spec``, validated.

    ``features`` (default: the columns x1..xd), ``target``, ``h0`` and ``nu0`` name the columns
    (:class:`Columns`); ``ignore`` names columns to skip; ``delimiter``: the CSV's (found from the
    header when None). The inputs are an ``xarray.DataArray`` (obs, column) of shape (n, spec.width)
    whose column coordinate names the features, then the given h0 and nu0: :func:`bayescmoe.fit`
    labels the result's features with those names. ``require_y=False`` (new rows to predict) reads
    a file with or without the target; y is then None when it has none. A categorical CSV's y is its class
    labels, as strings."""
    path = Path(path)
    names = None if features is None else tuple(features)
    columns = Columns(names, target, h0, nu0, tuple(ignore), delimiter)
    require(path.suffix in SUFFIXES, "data", f"{path}: unknown file type; use one of {list(SUFFIXES)}")
    require(not path.is_dir(), "data", f"{path} is a directory, not a data file")
    require(path.is_file(), "data", f"no such file: {path}")
    reader = {".csv": _read_csv, ".npz": _read_npz, ".nc": _read_netcdf}[path.suffix]
    table = reader(path, spec, columns, require_y)
    inputs = model_inputs(spec, table["x"], table.get("h0"), table.get("nu0"))
    y = table["y"]
    labelled = y is not None and y.dtype.kind in "OUS"  # class labels: bayescmoe.fit and predict code them
    inputs, checked = check_data(spec, inputs, np.zeros(len(inputs)) if y is None or labelled else y)
    labels = [*table["features"], *given_columns(spec)]
    inputs = xr.DataArray(inputs, dims=("obs", "column"), coords={"column": labels})
    return inputs, y if y is None or labelled else checked
