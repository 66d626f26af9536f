"""Simulation-based calibration (bayescmoe.studies.sbc, analyses/sbc.py): ranks, uniformity, priors, the quick run."""

from __future__ import annotations

import runpy
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from bayescmoe.errors import BayescmoeError
from bayescmoe.studies.sbc import (
    SBCConfig,
    draw_prior,
    param_labels,
    passes,
    pit_values,
    rank_band,
    rank_statistic,
    sbc_spec,
    thin,
    uniformity_pvalue,
)

SCRIPT = Path(__file__).parents[1] / "analyses" / "sbc.py"


def _main(argv: list[str]) -> int:
    return runpy.run_path(str(SCRIPT))["main"](argv)


def test_rank_counts_thinned_draws_below_the_truth():
    draws = np.arange(10.0).reshape(2, 5)  # 2 chains x 5 draws, pooled 0..9
    np.testing.assert_array_equal(thin(draws, 5), [1.0, 3.0, 5.0, 7.0, 9.0])  # stride 2, one per pair
    assert [rank_statistic(draws, t, 5) for t in (-1.0, 0.5, 1.5, 6.0, 8.9, 100.0)] == [0, 0, 1, 3, 4, 5]
    assert rank_statistic(draws, 4.5, 10) == 5  # no thinning: all draws
    with pytest.raises(BayescmoeError):
        thin(draws, 11)


def test_uniformity_test_accepts_uniform_and_rejects_skewed_ranks():
    num, bins = 19, 5
    uniform = np.repeat(np.arange(num + 1), 10)  # every rank equally often: counts exactly equal
    assert uniformity_pvalue(uniform, num, bins) == pytest.approx(1.0)
    u_shaped = np.concatenate([np.zeros(60, int), np.full(60, num), np.arange(num + 1)])  # overdispersed posterior
    shifted = np.repeat(np.arange(10, num + 1), 20)  # biased posterior: truth always above the median
    for ranks in (u_shaped, shifted):
        assert uniformity_pvalue(ranks, num, bins) < 1e-6
    rng = np.random.default_rng(0)
    assert uniformity_pvalue(rng.integers(0, num + 1, 400), num, bins) > 0.01
    with pytest.raises(BayescmoeError):
        uniformity_pvalue(uniform, num, 3)  # 3 does not divide L + 1 = 20
    with pytest.raises(BayescmoeError):
        uniformity_pvalue(uniform + 1, num, bins)  # rank 20 > L


def test_bonferroni_verdict_band_and_pit():
    assert passes([0.5, 0.006])  # threshold 0.01 / 2 = 0.005
    assert not passes([0.5, 0.004])
    low, high = rank_band(200, 20)  # Binomial(200, 0.05): mean 10, sd 3.1
    assert 0 < low < 10 < high < 20
    pit = pit_values(np.repeat(np.arange(20), 50), 19)
    assert pit.min() > 0 and pit.max() < 1 and abs(pit.mean() - 0.5) < 0.02


def test_prior_draws_have_the_prior_moments():
    spec = sbc_spec("distinguishable")
    assert param_labels(spec) == ["lam", "a[0]", "b", "nu"]
    one = draw_prior(jax.random.PRNGKey(3), spec)
    assert {k: v.shape for k, v in one.items()} == {"lam": (), "a": (1,), "b": (), "nu": ()}
    got = {k: v.reshape(4000) for k, v in draw_prior(jax.random.PRNGKey(3), spec, (4000,)).items()}
    # Beta(6, 6): 0.5, sd 0.139; N(-1, 0.3); N(0.5, 0.3); InverseGamma(6, 0.5): mean 0.1, sd 0.05
    for name, mean, sd in (("lam", 0.5, 0.139), ("a", -1.0, 0.3), ("b", 0.5, 0.3), ("nu", 0.1, 0.05)):
        assert abs(got[name].mean() - mean) < 4 * sd / np.sqrt(4000), name
        assert 0.9 < got[name].std() / sd < 1.1, name
    assert abs(np.corrcoef(got["a"], got["b"])[0, 1]) < 0.2  # independent keys per parameter


def test_config_rejects_bins_that_do_not_divide_and_too_few_draws():
    with pytest.raises(BayescmoeError, match="bins"):
        SBCConfig(num_ranks=99, bins=7)
    with pytest.raises(BayescmoeError, match="num_ranks"):
        SBCConfig(num_ranks=99, bins=10, num_chains=1, num_samples=50)


def test_quick_run_writes_results_and_resumes_without_refitting(tmp_path, capsys):
    argv = ["--quick", "--settings", "distinguishable", "--sims", "6", "--no-progress", "--out", str(tmp_path)]
    assert _main(argv) == 0
    printed = capsys.readouterr().out
    assert "chi2 p" in printed and "simulations fitted now 6" in printed
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sbc-distinguishable-ecdf.png", "sbc-distinguishable.png"]
    with xr.open_dataset(tmp_path / "sbc.nc", engine="h5netcdf") as saved:
        first = saved.load()
    assert first.sizes == {"setting": 1, "n": 1, "replicate": 6, "param": 4}
    assert first["done"].values.all()
    ranks = first["rank"].values
    assert np.all((ranks >= 0) & (ranks <= 19)) and np.all(ranks == np.round(ranks))
    assert len(np.unique(first["truth"].values[..., 0])) == 6  # a fresh theta per simulation
    assert not (tmp_path / "sbc.nc.journal.jsonl").exists()

    assert _main(argv) == 0  # resume: every simulation is done, nothing refitted
    assert "simulations fitted now 0" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "sbc.nc", engine="h5netcdf") as saved:
        xr.testing.assert_identical(saved.load(), first)

    assert _main([*argv[:-2], "--seed", "1", "--out", str(tmp_path)]) == 2  # another config: refused
    err = capsys.readouterr().err.strip()
    assert "another configuration" in err and "\n" not in err


@pytest.mark.parametrize(
    "flags",
    [["--sims", "0"], ["--settings", "nope"], ["--n", "-5"], ["--bogus"]],
    ids=["sims0", "setting", "n", "flag"],
)
def test_bad_flags_exit_with_one_line_and_write_nothing(flags, tmp_path, capsys):
    out = tmp_path / "out"
    assert _main([*flags, "--quick", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bayescmoe: error:") and "\n" not in err
    assert not out.exists()
