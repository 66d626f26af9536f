"""The sweep engine: seeds, padding, cell records, and kill-and-resume equal to an uninterrupted run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from helpers import seed

from bayescmoe.cli.rates import protocol_main
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.settings import get_setting
from bayescmoe.studies import store as sweep_store
from bayescmoe.studies import sweep
from bayescmoe.studies.protocols import Protocol, get_protocol
from bayescmoe.studies.slopes import format_slopes, slope_table
from bayescmoe.studies.sweep import SweepConfig, cell_key, fit_cell, padded_size, run_sweep

TINY = Protocol("tiny", ("p1-family", "p1-vanishing"), (300, 350), 1)  # one padded size, one spec
#: the sweeps' cell keys fold in this seed
CONFIG = SweepConfig(seed=seed(0))


def test_padded_sizes_are_few_and_large_enough():
    grid = get_protocol("p2").n_grid
    sizes = {padded_size(n) for n in grid}
    assert all(padded_size(n) >= n for n in grid)
    assert all(padded_size(n) < 1.5 * n for n in grid)
    assert len(sizes) < len(grid)


def test_cell_keys_differ_by_setting_n_and_replicate_and_are_stable():
    keys = {tuple(np.asarray(cell_key(seed(0), s, n, r))) for s in ("a", "b") for n in (10, 11) for r in (0, 1)}
    assert len(keys) == 8
    assert np.array_equal(cell_key(seed(0), "a", 10, 1), cell_key(seed(0), "a", 10, 1))


@pytest.mark.slow
def test_cell_record_is_consistent():
    setting = get_setting("p1-vanishing")
    cell = fit_cell(setting, 350, 0, CONFIG)
    v = cell["values"]
    truth = setting.truth.at(setting.spec, 350)
    assert v["lam_true"] == pytest.approx(0.5 * 350**-0.25)
    assert v["err_lam"] == pytest.approx(abs(v["lam_hat"] - v["lam_true"]))
    assert v["err_a"] == pytest.approx(np.linalg.norm(np.subtract(v["a_hat"], truth["a"])))
    assert v["converged"] == 1.0 and v["loglik_hat"] >= v["loglik_true"]
    json.dumps(cell)  # journal-ready


def _cells(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars("seconds")


@pytest.mark.slow
def test_killed_and_resumed_sweep_equals_uninterrupted(tmp_path, monkeypatch):
    whole = run_sweep(TINY, tmp_path / "whole.nc", CONFIG, progress=False)
    assert int(whole["done"].sum()) == 4

    real_fit, real_flush, calls = sweep.fit_cell, sweep_store.flush, {"n": 0, "die_at": 3}

    def dying_fit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["die_at"]:
            raise KeyboardInterrupt  # killed while fitting a cell
        return real_fit(*args, **kwargs)

    # first kill: the dataset is flushed on the way out
    monkeypatch.setattr(sweep, "fit_cell", dying_fit)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(TINY, tmp_path / "resumed.nc", CONFIG, progress=False)
    saved = xr.open_dataset(tmp_path / "resumed.nc", engine="h5netcdf").load()
    assert int(saved["done"].sum()) == 2

    # second kill as by SIGKILL: nothing flushed, only the journal survives (with a torn last line)
    calls.update(n=0, die_at=2)
    monkeypatch.setattr(sweep_store, "flush", lambda ds, out: None)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(TINY, tmp_path / "resumed.nc", CONFIG, progress=False)
    journal = sweep_store.journal_path(tmp_path / "resumed.nc")
    assert len(journal.read_text().splitlines()) == 1
    with open(journal, "a") as f:
        f.write('{"setting": "p1-fam')

    monkeypatch.setattr(sweep, "fit_cell", real_fit)
    monkeypatch.setattr(sweep_store, "flush", real_flush)
    resumed = run_sweep(TINY, tmp_path / "resumed.nc", CONFIG, progress=False)
    assert not journal.exists()
    xr.testing.assert_identical(_cells(resumed), _cells(whole))
    reloaded = xr.open_dataset(tmp_path / "resumed.nc", engine="h5netcdf").load()
    xr.testing.assert_identical(_cells(reloaded), _cells(whole))


@pytest.mark.slow
def test_resume_with_another_config_is_refused(tmp_path):
    small = Protocol("tiny", ("p1-family",), (300,), 1)
    run_sweep(small, tmp_path / "s.nc", CONFIG, progress=False)
    with pytest.raises(BayescmoeError, match="another configuration"):
        run_sweep(small, tmp_path / "s.nc", SweepConfig(estimator="em", seed=seed(0)), progress=False)


#: the quick run of each protocol; P1 and P2 on one distinguishable and one merging setting (the
#: others differ only in their spec, and each spec costs its compilations)
QUICK_SETTINGS = {
    "p1": "p1-family,p1-merging",
    "p2": "p2-distinguishable,p2-merging-eta",
    "p1-slow": None,
    "p2-slow": None,
}


@pytest.mark.slow
@pytest.mark.parametrize("protocol", sorted(QUICK_SETTINGS))
def test_quick_protocol_runs_end_to_end(protocol, tmp_path, capsys):
    out = tmp_path / protocol
    subset = QUICK_SETTINGS[protocol]
    flags = ["--quick", "--no-progress", "--n-boot", "50", "--seed", str(seed(0)), "--out", str(out)]
    flags += ["--settings", subset] if subset else []
    assert protocol_main(protocol, None, flags) == 0
    printed = capsys.readouterr().out
    ds = xr.open_dataset(out / "sweep.nc", engine="h5netcdf").load()
    quick = get_protocol(protocol).quick()
    quick = quick.with_settings(tuple(subset.split(","))) if subset else quick
    assert int(ds["done"].sum()) == len(quick.settings) * len(quick.n_grid) * quick.replicates
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{s}.png" for s in quick.settings)
    table = (out / "slopes.md").read_text()
    assert table.strip() in printed
    for setting in quick.settings:
        assert f"| {setting} |" in table


@pytest.mark.slow
def test_sweep_flags_fits_below_the_truth_and_says_why_each_stopped(tmp_path):
    protocol = Protocol("merging", ("p1-merging", "p2-merging-eta-noisy"), (400, 500), 2)
    ds = run_sweep(protocol, tmp_path / "sweep.nc", CONFIG, progress=False)
    assert json.loads(ds.attrs["stop_names"])[:2] == ["gradient", "relative change"]
    below = ds["loglik_hat"] < ds["loglik_true"] - sweep.BELOW_TRUTH_TOL * ds["n"]
    assert (ds["below_truth"] == below).all()
    assert int(ds["below_truth"].sum()) == 0
    assert (ds["converged"] == (ds["stop"] <= 1)).all()
    for group in ("a_merge", "a_perp"):  # both cells merge their slope (along e2 and e1)
        assert bool(ds[f"err_{group}"].notnull().all())
    np.testing.assert_allclose(np.hypot(ds["err_a_merge"], ds["err_a_perp"]), ds["err_a"], rtol=1e-9)
    table = slope_table(ds, protocol, n_boot=20)
    assert set(table["below_truth"]) == {0.0} and set(table["fits"]) == {4}
    text = format_slopes(table)
    assert "fits below truth" in text and "| 0 / 4 |" in text


def test_starts_are_near_the_truth_on_the_statistical_scale():
    setting = get_setting("p2-distinguishable")  # nu0 = 0.001: the slope's start moves by 0.1 noise sd
    truth = setting.truth.at(setting.spec, 1000)
    starts = [sweep.cell_starts(cell_key(seed(0), "x", 1000, r), setting.spec, truth, None, CONFIG) for r in range(200)]
    slope = np.array([s[0]["a"] - truth["a"] for s in starts])
    gate = np.array([s[0]["tau"] - truth["tau"] for s in starts])
    # 4 s.e. of a normal sample's sd: relative s.e. 1 / sqrt(2 (m - 1)) for m values
    assert np.std(slope) == pytest.approx(0.1 * np.sqrt(0.001), rel=4 / np.sqrt(2 * (slope.size - 1)))
    assert np.std(gate) == pytest.approx(0.1, rel=4 / np.sqrt(2 * (gate.size - 1)))


def test_protocol_subsets_and_unknown_settings():
    p2 = get_protocol("p2")
    assert p2.with_settings(("p2-merging-eta",)).settings == ("p2-merging-eta",)
    with pytest.raises(BayescmoeError, match="p1-family"):
        p2.with_settings(("p1-family",))
    assert len(p2.n_grid) == 20 and p2.n_grid[0] == 1000 and p2.n_grid[-1] == 100_000 and p2.replicates == 40


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: get_protocol("p1").with_replicates(0), "replicates"),
        (lambda: SweepConfig(estimator="newton"), "estimator"),
        (lambda: SweepConfig(init="prior"), "init"),
        (lambda: SweepConfig(perturbation=-0.1), "perturbation"),
        (lambda: SweepConfig(random_starts=0), "random_starts"),
        (lambda: SweepConfig(tol=-1e-6), "tol"),
        (lambda: SweepConfig(ftol=-1.0), "ftol"),
    ],
)
def test_bad_sweep_options_name_their_field(build, field):
    with pytest.raises(BayescmoeError) as err:
        build()
    assert err.value.field == field


def test_bad_protocol_option_is_one_line_error_without_output(tmp_path, capsys):
    out = tmp_path / "o"
    assert protocol_main("p2", None, ["--quick", "--settings", "p1-family", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayescmoe: error: settings")
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--tol", "--ftol"])
def test_a_negative_tolerance_is_a_one_line_error_without_output(flag, tmp_path, capsys):
    out = tmp_path / "o"
    assert protocol_main("p1-slow", None, [flag, "-1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: {flag[2:]}")
    assert not out.exists()


@pytest.mark.parametrize("sizes", ["1e4,1e6", "1e6,1e4,5", "a,b,c", "1e3,1e4,1"])
def test_bad_sizes_are_one_line_errors_without_output(sizes, tmp_path, capsys):
    out = tmp_path / "o"
    assert protocol_main("p1-slow", None, ["--sizes", sizes, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayescmoe: error: sizes")
    assert not out.exists()


def test_sizes_replace_the_grid():
    assert get_protocol("p2-slow").with_grid(1e4, 1e6, 12).n_grid == get_protocol("p1-slow").n_grid
    assert get_protocol("p2-slow").n_grid[0] == 30000 and get_protocol("p2-slow").n_grid[-1] == 1_000_000
