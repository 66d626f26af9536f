"""Replicate studies (bayescmoe.studies.replicates, coverage, contraction, studies): numbers on known inputs, runs."""

from __future__ import annotations

import json

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from helpers import key, seed

from bayescmoe.cli.studies import study_main
from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.nuts import compiled_nuts
from bayescmoe.model.params import by_label
from bayescmoe.studies import replicates
from bayescmoe.studies.contraction import contraction_table, group_quantity
from bayescmoe.studies.coverage import coverage_table, estimate_errors
from bayescmoe.studies.protocols import get_protocol
from bayescmoe.studies.replicates import PARAM_FIELDS, StudyConfig

LABELS = StudyConfig(("p1-family",), (100,), 1).labels


def _store(n_grid=(100,), reps=10, **values) -> xr.Dataset:
    config = StudyConfig(("p1-family",), tuple(n_grid), reps)
    ds = replicates.new_dataset(config)
    for name, value in values.items():
        ds[name][:] = np.broadcast_to(value, ds[name].shape)
    ds["done"][:] = 1
    return ds


def test_coverage_counts_hits_and_missing_standard_errors():
    r = np.arange(10.0)[:, None]  # replicate axis
    truth = np.zeros((10, len(LABELS)))
    mle = np.where(r < 7, 0.1, 5.0) + truth  # 7 of 10 Wald intervals (+- 1.645) hold 0
    se = np.where(r == 9, np.nan, 1.0) + truth  # the last has no s.e. (a miss)
    lo, hi = np.where(r < 9, -1.0, 0.5) + truth, np.ones_like(truth)  # 9 of 10 credible intervals
    ds = _store(truth=truth, mle=mle, mle_se=se, map=mle, map_se=se, post_lo=lo, post_hi=hi)
    table = coverage_table(ds).set_index(["param", "method"])
    assert table.loc[("lam", "Wald (MLE)"), "coverage"] == pytest.approx(0.7)
    assert table.loc[("lam", "Wald (MLE)"), "no_se"] == pytest.approx(0.1)
    assert table.loc[("lam", "NUTS"), "coverage"] == pytest.approx(0.9)
    assert table.loc[("lam", "NUTS"), "width"] == pytest.approx(2.0)
    assert table.loc[("lam", "Wald (MLE)"), "lo"] < 0.7 < table.loc[("lam", "Wald (MLE)"), "hi"]


def test_estimate_errors_are_root_mean_squares():
    truth = np.zeros((10, len(LABELS)))
    ds = _store(truth=truth, mle=truth + 3.0, map=truth + 4.0, post_mean=truth + 1.0, post_median=truth, post_sd=2.0)
    row = estimate_errors(ds).set_index("param").loc["nu"]
    assert (row["MLE"], row["MAP"], row["posterior mean"], row["posterior median"]) == pytest.approx((3, 4, 1, 0))
    assert row["|MAP - mean| / sd"] == pytest.approx(1.5)


def test_group_quantity_pools_a_vector_group():
    sd = np.arange(1.0, len(LABELS) + 1)
    ds = _store(post_sd=sd)
    pooled = group_quantity(ds, "sd")
    a = [i for i, label in enumerate(LABELS) if label.startswith("a[")]
    assert float(pooled["err_a"][0, 0, 0]) == pytest.approx(np.sqrt(np.sum(sd[a] ** 2)))
    assert float(pooled["err_lam"][0, 0, 0]) == pytest.approx(sd[LABELS.index("lam")])


def test_contraction_slopes_recover_exact_power_laws():
    n = np.array([1000, 4000, 16000])
    sd = 2.0 * n[:, None, None] ** -0.5 * np.ones((3, 4, len(LABELS)))
    truth = np.zeros_like(sd)
    error = 3.0 * n[:, None, None] ** -0.25 * np.ones_like(sd)
    ds = _store(n, 4, post_sd=sd, truth=truth, post_mean=error, mle=error)
    table = contraction_table(ds, get_protocol("p1"), n_boot=20).set_index(["group", "quantity"])
    assert table.loc[("lam", "sd"), "slope"] == pytest.approx(-0.5)
    assert table.loc[("a", "post_mean"), "slope"] == pytest.approx(-0.25)
    assert table.loc[("nu", "mle"), "theory"] == pytest.approx(-0.5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"settings": ("p1-family", "nope")}, "setting"),
        ({"settings": ("p1-family", "p2-distinguishable")}, "settings"),
        ({"n_grid": (100, 0)}, "n_grid[1]"),
        ({"replicates": 0}, "replicates"),
        ({"level": 1.5}, "level"),
    ],
)
def test_study_config_names_the_bad_field(kwargs, field):
    base = {"settings": ("p1-family",), "n_grid": (100,), "replicates": 1} | kwargs
    with pytest.raises(BayescmoeError) as err:
        StudyConfig(**base)
    assert err.value.field == field


@pytest.mark.slow
def test_compiled_nuts_agrees_with_fit_nuts(distinguishable_fit):
    """Same data, same sizes, another start (the MAP) and key: posterior means within 5 Monte Carlo s.e."""
    fit = distinguishable_fit
    run = compiled_nuts(fit.spec, num_warmup=300, num_samples=300, num_chains=2)
    samples, diverging = run(key(5), jnp.asarray(fit.x), jnp.asarray(fit.y), fit.map.params)
    assert np.asarray(diverging).shape == (2, 300)
    reference = by_label({k: np.asarray(v) for k, v in fit.nuts.samples.items()}, lead=2)
    for label, draws in by_label({k: np.asarray(v) for k, v in samples.items()}, lead=2).items():
        ref = reference[label]
        se = np.hypot(ref.std() / np.sqrt(az.ess(ref)), draws.std() / np.sqrt(az.ess(draws)))
        assert abs(draws.mean() - ref.mean()) < 5 * se, label


@pytest.mark.slow
def test_quick_study_runs_then_resumes_without_refitting(tmp_path, monkeypatch, capsys):
    argv = ["--quick", "--settings", "p1-vanishing", "--n", "200", "--replicates", "2", "--out", str(tmp_path)]
    argv += ["--no-progress", "--seed", str(seed(0))]
    assert study_main("map-vs-nuts", None, argv) == 0
    for name in ("study.nc", "coverage.csv", "errors.csv", "coverage.txt", "coverage.png"):
        assert (tmp_path / name).is_file(), name
    with xr.open_dataset(tmp_path / "study.nc", engine="h5netcdf") as ds:
        assert int(ds["done"].sum()) == 2
        assert bool((ds["post_lo"] <= ds["post_median"]).all() & (ds["post_median"] <= ds["post_hi"]).all())
        assert set(PARAM_FIELDS) <= set(ds.data_vars)
        assert json.loads(ds.attrs["config"])["num_chains"] == 2

    def refit(*args, **kwargs):
        raise AssertionError("a finished replicate was fitted again")

    monkeypatch.setattr(replicates, "fit_replicate", refit)
    assert study_main("map-vs-nuts", None, argv) == 0
    assert "2 fits" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flag", "field"), [(["--n", "0"], "n_grid[0]"), (["--n", "x"], "n"), (["--settings", "p1-x"], "setting")]
)
def test_bad_study_flags_exit_with_one_line(tmp_path, capsys, flag, field):
    out = tmp_path / "out"
    assert study_main("contraction", None, ["--quick", "--out", str(out), *flag]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err
    assert not out.exists()


@pytest.mark.slow
def test_quick_contraction_writes_slopes_and_figures(tmp_path, capsys):
    argv = ["--quick", "--settings", "p1-family", "--out", str(tmp_path), "--no-progress", "--seed", str(seed(0))]
    assert study_main("contraction", None, argv) == 0
    text = (tmp_path / "contraction.txt").read_text()
    assert "p1-family" in text and "post_mean" in text
    for quantity in ("sd", "post_mean", "mle"):
        assert (tmp_path / f"p1-family-{quantity}.png").is_file()
    with xr.open_dataset(tmp_path / "study.nc", engine="h5netcdf") as ds:
        assert list(ds["n"].values) == [300, 600] and int(ds["done"].sum()) == 4
        assert bool((ds["post_sd"] > 0).all())
