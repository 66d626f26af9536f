"""The bayescmoe command: listing, fitting by name and from TOML, summary/plot, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest
from helpers import key, make_params, make_spec, seed

from bayescmoe.cli import main
from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.optimize import fit_mle
from bayescmoe.model.settings import SETTINGS, Setting, get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.results import datatree as results

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "models" / "configs" / "p1-family-small.toml"
TINY = ["--n", "200", "--num-warmup", "30", "--num-samples", "30", "--num-chains", "2", "--seed", str(seed(0))]


def test_list_names_every_setting(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SETTINGS)


def test_settings_round_trip_through_config():
    for setting in SETTINGS.values():
        again = Setting.from_config(setting.to_config())
        assert again.spec == setting.spec
        for n in (1000, 100_000):
            truth, back = setting.truth.at(setting.spec, n), again.truth.at(again.spec, n)
            assert all((truth[k] == back[k]).all() for k in truth)


def test_paper_truths():
    p2 = get_setting("p2-merging-eta").truth.at(get_setting("p2-merging-eta").spec, 10**4)
    assert p2["a"][0] == pytest.approx(1 + 10 ** (-4 / 8)) and p2["nu"] == pytest.approx(0.001)
    vanish = get_setting("p1-vanishing")
    assert vanish.truth.at(vanish.spec, 10**4)["lam"] == pytest.approx(0.5 * 10**-1)
    as_written = get_setting("p2-merging-nu")
    truth = as_written.truth.at(as_written.spec, 10**8)
    assert truth["nu"] == pytest.approx(0.001 * (1 + 10**-1)) and truth["a"][0] == -1


@pytest.mark.slow
def test_fit_from_toml_then_summary_and_plot(tmp_path, capsys):
    out = tmp_path / "out"
    flags = ["--no-plots", "--no-predictive", "--pointwise-dtype", "float32", "--thin", "3"]
    assert main(["fit", "--config", str(EXAMPLE), *TINY, "--out", str(out), *flags]) == 0
    path = out / "p1-family-small.nc"
    dt = results.load(path)
    assert dt["log_likelihood"]["y"].dtype == "float32" and dt["posterior"]["a"].dtype == "float64"
    assert dt["log_likelihood"].sizes["draw"] == 10 and dt["posterior"].sizes["draw"] == 30
    assert dt.attrs["setting"] == "p1-family-small"
    assert results.spec_of(dt) == Setting.from_file(EXAMPLE).spec
    assert float(dt["truth"]["lam"]) == pytest.approx(0.1 + 2 * 200**-0.5)
    capsys.readouterr()
    assert main(["summary", str(path)]) == 0
    assert "MLE +/- s.e." in capsys.readouterr().out
    assert main(["plot", str(path), "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == [
        "p1-family-small-pair.png",
        "p1-family-small-trace.png",
    ]


BAD_TOML = {
    "unknown family": ('family = "student_t"', 'family = "cauchy"', "frozen.family"),
    "non-positive variance": ("nu = 0.1\n\n[spec.prompt]", "nu = -0.1\n\n[spec.prompt]", "frozen.nu"),
    "weight outside [0, 1]": ("lam = 0.1\n", "lam = 1.5\n", "truth.lam"),
    "unknown expert": ('mean = "linear"\nbias = true', 'mean = "softplus"\nbias = true', "prompt.mean"),
    "malformed table": ("[data]", "[dataz]", "config"),
    "wrong shape": ("a = [-1.0, 1.0]", "a = [-1.0, 1.0, 3.0]", "truth.a"),
    "not TOML": ("[spec]", "[spec", "config"),
    "rate leaves [0, 1]": ("coef = 2.0", "coef = 2000.0", "truth.lam"),
    "unknown prompt family": (
        'mean = "linear"\nbias = true',
        'mean = "linear"\nbias = true\nfamily = "cauchy"',
        "prompt.family",
    ),
    "prompt df too small": ('mean = "linear"\nbias = true', 'bias = true\nfamily = "student_t"\ndf = 2.0', "prompt.df"),
    "empty name": ('name = "p1-family-small"', 'name = ""', "name"),
    "name with a path": ('name = "p1-family-small"', 'name = "sub/cell"', "name"),
    "prompt df without t": ('mean = "linear"\nbias = true', 'bias = true\nfamily = "laplace"\ndf = 4.0', "prompt.df"),
}


@pytest.mark.parametrize("case", sorted(BAD_TOML))
def test_bad_config_is_one_line_error_without_output(case, tmp_path, capsys):
    old, new, field = BAD_TOML[case]
    text = EXAMPLE.read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1))
    out = tmp_path / "out"
    assert main(["fit", "--config", str(bad), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bayescmoe: error: {field}"), lines
    assert not out.exists()


@pytest.mark.slow
def test_bad_config_from_the_shell_is_one_line_without_traceback(tmp_path):
    """The installed command, in a fresh process: one stderr line, exit status 2, no output."""
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('family = "student_t"', 'family = "cauchy"', 1))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "bayescmoe.cli", "fit", "--config", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bayescmoe: error: frozen.family: unknown family 'cauchy'; "
        "choose from ['gaussian', 'laplace', 'student_t', 'categorical']"
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["fit", "no-such-setting"], "setting"),
        (["fit"], "setting"),
        (["fit", "p1-family", "--n", "-5"], "n"),
        (["fit", "p1-family", "--num-samples", "0"], "num_samples"),
        (["fit", "p1-family", "--thin", "0"], "pointwise_thin"),
        (["summary", "/nonexistent/result.nc"], "path"),
        (["frobnicate"], "arguments"),
        (["fit", "p1-family", "--seed", str(2**64)], "arguments"),  # past JAX's keys: once an OverflowError
        (["collapse", "r.nc", "--seed", str(-(2**63) - 1)], "arguments"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, field, tmp_path, capsys):
    assert main([*argv, *(["--out", str(tmp_path / "o")] if argv[0] == "fit" else [])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: {field}")
    assert not (tmp_path / "o").exists()


def test_every_seed_jax_can_take_is_accepted():
    from bayescmoe.cli.main import build_parser

    for value in (-(2**63), 2**63 - 1):
        assert build_parser().parse_args(["fit", "p1-family", "--seed", str(value)]).seed == value


def _one_line_error(capsys, field: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: {field}"), err
    return err[0]


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_unwritable_out_is_refused_before_any_work(where, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "out" if where == "under a file" else Path("/proc/bayescmoe-out")
    monkeypatch.setattr("bayescmoe.workflow.fitting.simulate", lambda *a, **k: pytest.fail("simulated anyway"))
    assert main(["fit", "p1-family", "--n", "300", "--out", str(out)]) == 2
    _one_line_error(capsys, "out")
    assert not out.exists()


@pytest.mark.parametrize(
    ("n", "field", "says"), [("1000000000000", "n", "GB"), ("1", "y", "more observations than parameters")]
)
def test_impossible_sample_sizes_are_one_line_errors(n, field, says, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["fit", "p1-family", "--n", n, "--num-warmup", "5", "--num-samples", "5", "--out", str(out)]) == 2
    assert says in _one_line_error(capsys, field)
    assert not out.exists()


@pytest.mark.parametrize(("family", "extra"), [("laplace", ""), ("student_t", "\ndf = 4.0")])
def test_a_config_sets_the_prompts_family(family, extra, tmp_path):
    """``family`` (and ``df``) in ``[spec.prompt]``; a config without them has the Gaussian prompt."""
    text = EXAMPLE.read_text()
    config = tmp_path / "cell.toml"
    config.write_text(text.replace("bias = true", f'bias = true\nfamily = "{family}"{extra}', 1))
    setting = Setting.from_file(config)
    assert setting.spec.prompt.family == family and setting.spec.distinguishable
    assert setting.spec.prompt.df == (4.0 if extra else None)
    assert Setting.from_config(setting.to_config()).spec == setting.spec
    assert Setting.from_file(EXAMPLE).spec.prompt.family == "gaussian"


def test_config_errors_name_the_right_field(tmp_path, capsys):
    assert main(["fit", "--config", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "is a directory" in _one_line_error(capsys, "config")
    text = EXAMPLE.read_text()
    for old, new, says in (
        ("weight = [1.0, 0.0]", "weight = [1.0, 0.0, 0.0]", "the length of frozen.weight"),
        ("lam = 0.1\n", "lam = 1.5\n", "got 1.5"),  # the value typed, not lam + 2 n^-1/2
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text.replace(old, new, 1))
        assert main(["fit", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
        assert says in _one_line_error(capsys, "truth")


def test_summary_of_a_file_that_is_not_a_result(tmp_path, capsys):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not netcdf")
    for command in ("summary", "plot", "collapse", "predict"):
        extra = ["--data", str(junk), "--out", str(tmp_path / "p.csv")] if command == "predict" else []
        assert main([command, str(junk), *extra]) == 2
        line = _one_line_error(capsys, "path")
        assert "is not a NetCDF file" in line and "signature" not in line  # no h5py wording
    assert not (tmp_path / "p.csv").exists()


def test_plot_and_collapse_of_a_result_without_posterior_are_one_line(tmp_path, capsys):
    """A saved result holding point estimates only (no NUTS) is refused by plot and collapse in one line."""
    spec = make_spec("gaussian")
    x, y = simulate(key(0), spec, {k: jnp.asarray(v) for k, v in make_params(spec).items()}, 200)
    dt = results.to_datatree(spec, x, y, estimates=[fit_mle(spec, x, y)])
    assert "posterior" not in dt.children
    path = results.save(dt, tmp_path / "points.nc")
    capsys.readouterr()
    assert main(["plot", str(path)]) == 2
    assert "no posterior" in _one_line_error(capsys, "result")
    assert not list(tmp_path.glob("points-*.png"))
    assert main(["collapse", str(path)]) == 2  # once a KeyError traceback
    assert "no posterior" in _one_line_error(capsys, "result")


def test_get_setting_names_the_choices():
    with pytest.raises(BayescmoeError, match="p2-distinguishable"):
        get_setting("nope")


def test_help_and_usage_errors_load_no_jax():
    """``bayescmoe --help`` and a bad flag answer before JAX, NumPyro or ArviZ is imported (speed is the point;
    how long it takes is for the benchmarks, this checks that nothing heavy is on the way)."""
    code = (
        "import sys\n"
        "from bayescmoe.cli import main\n"
        "try:\n"
        "    main(['fit', '--help'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        "assert main(['fit', '--num-chains', 'four']) == 2\n"
        "print([m for m in ('jax', 'numpyro', 'arviz', 'xarray', 'matplotlib', 'scipy') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr
    assert "--num-warmup" in proc.stdout and proc.stderr.startswith("bayescmoe: error: arguments:")


def test_version_from_the_shell():
    import bayescmoe

    proc = subprocess.run(
        [sys.executable, "-m", "bayescmoe.cli", "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"bayescmoe {bayescmoe.__version__}", proc.stderr
