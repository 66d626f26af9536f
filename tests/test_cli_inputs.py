"""The command line on generated input (hypothesis): flags, TOML configs, data files and result files.

Whatever it is given, ``bayescmoe`` exits 0 or 2 and never with a traceback; an exit 2 is one stderr
line ``bayescmoe: error: FIELD: ...`` and leaves nothing in the ``--out`` folder. The fast test stops a
fit where estimation would begin (the input passed every check, and nothing may be written yet), so
it exercises how the command refuses, in seconds; the slow one fits for real (n = 40, 5 draws) and
then also finds the result file.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from made_up import made_up

from bayescmoe.cli import main
from bayescmoe.results.datatree import save

ROOT = Path(__file__).parents[1]
#: a valid config: d = 2, constant gate, Student-t frozen expert
CONFIG = (ROOT / "models" / "configs" / "p1-family-small.toml").read_text()
#: the fit flags, each with values that pass and values that must be refused
FLAGS = {
    "--n": (["40"], ["0", "-5", "1", "x", "2.5", "10000000000000"]),
    "--num-warmup": (["5"], ["0", "-1", "x"]),
    "--num-samples": (["5"], ["0", "-3", "five"]),
    "--num-chains": (["1"], ["0", "-1", "1.5"]),
    "--thin": (["1", "2"], ["0", "-2", "x"]),
    "--seed": (["0", "7", str(2**63 - 1)], ["x", "1.5", str(2**64), str(-(2**63) - 1)]),
    "--init": (["map", "prior"], ["mle", ""]),
    "--pointwise-dtype": (["float64", "float32"], ["float16", ""]),
}
#: lines of the config whose value a generated one replaces
CONFIG_LINES = [
    'gate = "constant"',
    'family = "student_t"',
    "df = 5.0",
    'mean = "linear"',
    "weight = [1.0, 0.0]",
    "bias = 0.0",
    "nu = 0.1",
    "bias = true",
    'lam = ["beta", 1.0, 1.0]',
    "lam = 0.1",
    "a = [-1.0, 1.0]",
    "b = 0.5",
    "coef = 2.0",
    "n = 1000",
    'x_dist = "ball"',
    'name = "p1-family-small"',
]
TOML_VALUES = ['"x"', '""', "true", "0", "-1", "1e300", "[1, 2, 3]", "[]", "{a = 1}", '"cauchy"', "nan", "inf"]
RNG = np.random.default_rng(0)
#: the valid data: 40 rows of x1, x2, y
ROWS = [[repr(float(v)) for v in row] for row in np.c_[RNG.standard_normal((40, 2)), RNG.standard_normal(40)]]
CELLS = ["", "abc", "nan", "-inf", "1e400", "1e300", "0x1", " 3 ", '"4"', "1,5"]
HEADERS = ["x1", "x2", "x3", "y", "h0", "nu0", "", "X1", "y "]


class Reached(Exception):
    """An estimator was called: the input passed every check of the command (fast test only)."""


def _reached(*_, **__):
    raise Reached


@st.composite
def configs(draw) -> bytes:
    """The valid config, one line of it given another value, a key added, the prompt's family or df set, the text
    cut short, or noise."""
    kind = draw(st.sampled_from(["valid", "value", "key", "prompt", "cut", "text", "bytes"]))
    if kind == "valid":
        return CONFIG.encode()
    if kind == "value":
        line = draw(st.sampled_from(CONFIG_LINES))
        new = f"{line.split(' = ')[0]} = {draw(st.sampled_from(TOML_VALUES))}"
        return CONFIG.replace(line, new, 1).encode()
    if kind == "key":
        table = draw(st.sampled_from(["[spec]\n", "[spec.frozen]\n", "[spec.prompt]\n", "[truth]\n", "[data]\n"]))
        return CONFIG.replace(table, f"{table}unknown = 1\n", 1).encode()
    if kind == "prompt":  # the prompt's optional family and df, given any value
        key, value = draw(st.sampled_from(["family", "df"])), draw(st.sampled_from([*TOML_VALUES, '"laplace"', "4.0"]))
        return CONFIG.replace("[spec.prompt]\n", f"[spec.prompt]\n{key} = {value}\n", 1).encode()
    if kind == "cut":
        return CONFIG[: draw(st.integers(0, len(CONFIG) - 1))].encode()
    if kind == "text":
        return draw(st.text(max_size=80)).encode()
    return draw(st.binary(max_size=40))


@st.composite
def data_files(draw) -> tuple[str, bytes | dict]:
    """(suffix, content: bytes, or the arrays of a .npz or NetCDF file) of a data file for the config's spec:
    the valid CSV, a cell or the header changed, rows cut or made ragged, an empty file, or a .npz, NetCDF
    or unknown-suffix file."""
    kind = draw(st.sampled_from(["valid", "cell", "header", "rows", "ragged", "empty", "npz", "nc", "txt"]))
    header, rows = ["x1", "x2", "y"], [list(r) for r in ROWS]
    if kind == "cell":
        rows[draw(st.integers(0, 39))][draw(st.integers(0, 2))] = draw(st.sampled_from(CELLS))
    elif kind == "header":
        header = draw(st.lists(st.sampled_from(HEADERS), max_size=5))
    elif kind == "rows":
        rows = rows[: draw(st.integers(0, 5))]
    elif kind == "ragged":
        rows[draw(st.integers(0, 39))].append("1.0")
    if kind in ("npz", "nc"):
        x = draw(st.sampled_from([np.ones((40, 2)), np.ones(40), np.ones((40, 3)), np.full((40, 2), "a")]))
        y = draw(st.sampled_from([np.ones(40), np.ones(39), np.array(["b"] * 40)]))
        return f".{kind}", {"x": x, "y": y}
    text = "" if kind == "empty" else "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    return (".txt" if kind == "txt" else ".csv"), text.encode()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    """Result files to read: a good one, ones without groups a fit may leave out, and files that are not results."""
    folder = tmp_path_factory.mktemp("results")
    paths = {"good": save(made_up(), folder / "good.nc")}
    for name, drop in {
        "points": ["posterior", "sample_stats", "log_likelihood", "log_prior", "unconstrained_posterior"],
        "no-estimates": ["mle", "map"],
        "no-loglik": ["log_likelihood"],
    }.items():
        dt = made_up()
        for group in drop:
            del dt[group]
        paths[name] = save(dt, folder / f"{name}.nc")
    broken = made_up()
    broken.attrs["bayescmoe_spec"] = "{"
    paths["bad-spec"] = save(broken, folder / "bad-spec.nc")
    (folder / "junk.nc").write_bytes(b"not netcdf")
    (folder / "empty.nc").write_bytes(b"")
    xr.Dataset({"a": ("i", np.ones(3))}).to_netcdf(folder / "plain.nc")
    (folder / "rows.csv").write_text("x1,x2\n0.1,0.2\n")
    for name in ("junk.nc", "empty.nc", "plain.nc", "rows.csv"):
        paths[name] = folder / name
    paths["missing"], paths["folder"] = folder / "missing.nc", folder
    return paths


#: the flags a real fit always gets: a tiny sampler (their defaults, 4 x 1000 steps, would be slow)
TINY = ("--num-warmup", "--num-samples", "--num-chains")


def _flags(draw, bad: bool) -> list[str]:
    """Fit flags, each present or not, valid or (with ``bad``) maybe not, plus maybe an unknown flag."""
    argv = []
    for flag, (good, wrong) in FLAGS.items():
        if draw(st.booleans()) or (not bad and flag in TINY):
            argv += [flag, draw(st.sampled_from(good + wrong if bad else good))]
    if bad and draw(st.booleans()):
        argv.append("--frobnicate")
    return argv


@st.composite
def commands(draw, fast: bool) -> tuple[list[str], dict[str, tuple[str, bytes]]]:
    """(argv with {config}, {data}, {result...}, {out} placeholders, files to write for them)."""
    names = ["fit", "fit", "fit", "summary", "collapse", "plot", "predict", "singular", "noise"]
    command = draw(st.sampled_from(names))
    files: dict[str, tuple[str, bytes]] = {}
    if command == "noise":
        return draw(st.lists(st.text(max_size=12), max_size=4)), files
    if command == "fit":
        source = draw(st.sampled_from(["setting", "config", "data", "both", "neither", "unknown"]))
        argv = ["fit", *{"setting": ["p1-family"], "both": ["p1-family"], "unknown": ["nope"]}.get(source, [])]
        if source in ("config", "data", "both"):
            files["config"] = (".toml", draw(configs()))
            argv += ["--config", "{config}"]
        if source == "data":
            files["data"] = draw(data_files())
            argv += ["--data", "{data}"]
        flags = _flags(draw, bad=fast)
        if source == "data" and "--n" in flags:
            del flags[flags.index("--n") : flags.index("--n") + 2]
        if not fast and source != "data" and "--n" not in flags:
            flags += ["--n", "40"]  # a named setting's own n would be slow
        return [*argv, *flags, "--no-plots", "--no-predictive", "--out", "{out}"], files
    # the commands that read a result; in the fast test, plot and predict only where they refuse early
    broken = ["points", "bad-spec", "junk.nc", "empty.nc", "plain.nc", "rows.csv", "missing", "folder"]
    readable = ["good", "no-estimates", "no-loglik"]
    heavy = command == "singular" or (fast and command in ("plot", "predict"))  # singular: minutes of NUTS
    result = draw(st.sampled_from(broken if heavy else broken + readable))
    argv = [command, f"{{result:{result}}}"]
    if command == "collapse":
        argv += draw(st.sampled_from([[], ["--brief"], ["--eps", "0.1"], ["--eps", "x"], ["--evidence", "nope"]]))
        argv += draw(st.sampled_from([[], ["--evidence", "savage-dickey"]]))
    elif command == "plot":
        argv += ["--out", "{out}"]
        argv += draw(st.sampled_from([[], ["--var-names", "a", "nu"], ["--var-names", "zeta"], ["--features", "9"]]))
    elif command == "predict":
        files["data"] = draw(data_files())
        suffix = draw(st.sampled_from([".csv", ".nc", ".txt"]))
        argv += ["--data", "{data}", "--out", f"{{out}}/predictions{suffix}"]
        argv += draw(st.sampled_from([[], ["--method", "mle"], ["--method", "median"], ["--ci-prob", "2"]]))
    elif command == "singular":
        argv += draw(st.sampled_from([[], ["--temperatures", "0"], ["--gamma", "x"]]))
    return argv, files


def run(argv: list[str], files: dict[str, tuple[str, bytes]], results: dict[str, Path], folder: Path):
    """Write the files, fill in the placeholders and run the command in process: (status, stderr, out folder)."""
    out = folder / "out"
    paths = {}
    for name, (suffix, content) in files.items():
        paths[name] = path = folder / f"{name}{suffix}"
        if suffix == ".npz":
            np.savez(path, **content)
        elif suffix == ".nc":
            x, y = content["x"], content["y"]
            xr.Dataset({"x": (("obs", "feature")[: x.ndim], x), "y": ("row", y)}).to_netcdf(path, engine="h5netcdf")
        else:
            path.write_bytes(content)
    filled = []
    for arg in argv:
        if arg.startswith("{result:"):
            arg = str(results[arg[len("{result:") : -1]])
        filled.append(arg.replace("{out}", str(out)).replace("{config}", str(paths.get("config"))))
        filled[-1] = filled[-1].replace("{data}", str(paths.get("data")))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(filled)
        except SystemExit as done:  # --help and --version exit through argparse
            status = done.code
    return status, err.getvalue(), out


def check(status: int, stderr: str, out: Path) -> None:
    """The property: 0 or 2; no traceback; a 2 is one ``bayescmoe: error:`` line and writes nothing."""
    assert status in (0, 2), (status, stderr)
    assert "Traceback" not in stderr
    if status == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bayescmoe: error: "), lines
        assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def _fresh(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("case")


def _kind(argv: list[str]) -> str:
    """The command's name for hypothesis' statistics (``--hypothesis-show-statistics``)."""
    known = ("fit", "summary", "collapse", "plot", "predict", "singular", "list")
    return argv[0] if argv and argv[0] in known else "noise"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=commands(fast=True))
def test_generated_commands_refuse_bad_input_in_one_line(case, results, tmp_path_factory):
    argv, files = case
    folder = _fresh(tmp_path_factory)
    stop = {f"bayescmoe.workflow.fitting.{name}": _reached for name in ("fit_mle", "fit_map", "fit_nuts")}
    with contextlib.ExitStack() as patches:
        for target, replacement in stop.items():
            patches.enter_context(mock.patch(target, replacement))
        try:
            status, stderr, out = run(argv, files, results, folder)
        except Reached:  # every check passed: nothing may have been written yet
            event(f"{_kind(argv)}: reached the estimators")
            out = folder / "out"
            assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())
            return
    event(f"{_kind(argv)}: exit {status}")
    check(status, stderr, out)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=commands(fast=False))
def test_generated_commands_fit_or_refuse(case, results, tmp_path_factory):
    argv, files = case
    status, stderr, out = run(argv, files, results, _fresh(tmp_path_factory))
    event(f"{_kind(argv)}: exit {status}")
    check(status, stderr, out)
    if status == 0 and argv[0] == "fit":
        assert [p.suffix for p in out.iterdir()] == [".nc"]


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--config", "{config}", "--data", "{data}", "--out", "{out}"],  # a cell that is not a number
        ["collapse", "{result}"],  # a file that is not a result
    ],
)
def test_refusals_from_the_shell_have_no_traceback(argv, tmp_path):
    """The installed command in a fresh process: exit status 2, one line, no traceback, nothing written."""
    (tmp_path / "c.toml").write_text(CONFIG)
    (tmp_path / "d.csv").write_text("x1,x2,y\n" + "\n".join(",".join(r) for r in ROWS[:5]) + "\n1,abc,2\n")
    (tmp_path / "r.nc").write_bytes(b"\x89HDF\r\n\x1a\n then nothing")
    out = tmp_path / "out"
    names = {"{config}": "c.toml", "{data}": "d.csv", "{result}": "r.nc"}
    argv = [str(tmp_path / names[a]) if a in names else str(out) if a == "{out}" else a for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "bayescmoe.cli", *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    check(proc.returncode, proc.stderr, out)
    assert proc.returncode == 2
