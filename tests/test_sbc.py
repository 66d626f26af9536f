"""Simulation-based calibration (bayescmoe.studies.sbc, analyses/sbc.py): ranks, uniformity, priors, the quick run."""

from __future__ import annotations

import runpy
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr
from helpers import key, most_seeds, seed

from bayescmoe.errors import BayescmoeError
from bayescmoe.model.likelihood import log_likelihood
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.sbc import (
    SBCConfig,
    auto_thinned_pit,
    draw_prior,
    log_likelihood_draws,
    param_labels,
    passes,
    pit_pvalues,
    quantity_labels,
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
    # uniform ranks: a uniform p-value, above 0.01 at a majority of 3 seeds
    most_seeds(
        lambda k: uniformity_pvalue(np.random.default_rng(seed(k)).integers(0, num + 1, 400), num, bins) > 0.01, 0
    )
    with pytest.raises(BayescmoeError):
        uniformity_pvalue(uniform, num, 3)  # 3 does not divide L + 1 = 20
    with pytest.raises(BayescmoeError):
        uniformity_pvalue(uniform + 1, num, bins)  # rank 20 > L


def test_bonferroni_verdict_and_band():
    assert passes([0.5, 0.006])  # threshold 0.01 / 2 = 0.005
    assert not passes([0.5, 0.004])
    low, high = rank_band(200, 20)  # Binomial(200, 0.05): mean 10, sd 3.1
    assert 0 < low < 10 < high < 20


def test_automatic_thinning_keeps_all_independent_draws_and_few_correlated_ones():
    rng = np.random.default_rng(seed(0))
    iid = rng.normal(size=(4, 500))
    pit, kept = auto_thinned_pit(iid, 0.0, rng)
    assert kept >= 1000 and 0.3 < pit < 0.7  # ESS about 2000: little or no thinning
    walk = np.cumsum(rng.normal(size=(4, 500)), axis=1)  # ESS of a random walk: a handful
    pit, kept = auto_thinned_pit(walk, float(walk.mean()), rng)
    assert 4 <= kept <= 100 and 0 < pit < 1


def test_pit_uniformity_test_accepts_uniform_and_rejects_skewed_values():
    """Uniform PIT values: p above 0.01 at a majority of 3 seeds (one seed: below 0.05 at 8% of seeds, below 0.01
    at 1.2%). U^1.5: p below 1e-4 at every seed with 1000 values (with 300, above 1e-4 at 1.1% of seeds)."""

    def accepts_uniform(k: int) -> bool:
        rng = np.random.default_rng(seed(k))
        assert pit_pvalues({"skewed": rng.uniform(size=1000) ** 1.5})["skewed"] < 1e-4
        return pit_pvalues({"uniform": rng.uniform(size=300)})["uniform"] > 0.01

    most_seeds(accepts_uniform, 1)


@pytest.mark.slow
def test_log_likelihood_ranks_see_a_posterior_that_ignores_the_data():
    """Prior draws as the "posterior": every parameter's rank is uniform (the classic SBC blind spot),
    the log-likelihood's is not (the truth explains its own data better than prior draws do).

    Uniform ranks give uniform p-values: the Bonferroni test over the 4 parameters passes at a majority of 3
    seeds (one seed fails with probability about 1%); the log-likelihood's p is below 1e-6 at every seed.
    """
    spec = sbc_spec("distinguishable")

    def parameters_pass(k: int) -> bool:
        ranks = {label: [] for label in quantity_labels(spec)}
        rng = np.random.default_rng(seed(k))
        for b in range(60):
            k_theta, k_data, k_post = jax.random.split(jax.random.fold_in(key(k), b), 3)
            theta = draw_prior(k_theta, spec)
            x, y = simulate(k_data, spec, theta, 200)
            post = draw_prior(k_post, spec, (1, 200))
            draws = {"lam": post["lam"], "a[0]": post["a"][..., 0], "b": post["b"], "nu": post["nu"]}
            draws["loglik"] = log_likelihood_draws(spec, post, x, y)
            truth = {"lam": theta["lam"], "a[0]": theta["a"][0], "b": theta["b"], "nu": theta["nu"]}
            truth["loglik"] = float(np.sum(log_likelihood(spec, theta, x, y)))
            for label in ranks:
                ranks[label].append(auto_thinned_pit(draws[label], float(truth[label]), rng)[0])
        p = pit_pvalues(ranks)
        assert p["loglik"] < 1e-6
        return min(p[label] for label in param_labels(spec)) > 0.01 / 5

    most_seeds(parameters_pass, 2)


@pytest.mark.slow
def test_log_likelihood_draws_match_the_pointwise_sum():
    spec = sbc_spec("collapsed")
    x, y = simulate(key(0), spec, draw_prior(key(1), spec), 50)
    post = draw_prior(key(2), spec, (2, 3))
    got = log_likelihood_draws(spec, post, x, y)
    one = {k: v[1, 2] for k, v in post.items()}
    assert got.shape == (2, 3) and got[1, 2] == pytest.approx(float(np.sum(log_likelihood(spec, one, x, y))), rel=1e-12)


@pytest.mark.slow
def test_prior_draws_have_the_prior_moments():
    spec = sbc_spec("distinguishable")
    assert param_labels(spec) == ["lam", "a[0]", "b", "nu"]
    one = draw_prior(key(3), spec)
    assert {k: v.shape for k, v in one.items()} == {"lam": (), "a": (1,), "b": (), "nu": ()}
    got = {k: v.reshape(4000) for k, v in draw_prior(key(3), spec, (4000,)).items()}
    # Beta(6, 6): 0.5, sd 0.139, kurtosis 2.6; N(-1, 0.3), N(0.5, 0.3): 3; InverseGamma(6, 0.5): 0.1, 0.05, 22
    laws = (("lam", 0.5, 0.1387, 2.6), ("a", -1.0, 0.3, 3.0), ("b", 0.5, 0.3, 3.0), ("nu", 0.1, 0.05, 22.0))
    for name, mean, sd, kurtosis in laws:
        assert abs(got[name].mean() - mean) < 4 * sd / np.sqrt(4000), name
        # 4 s.e. of a sample sd: its relative s.e. is sqrt((kurtosis - 1) / (4 n))
        assert abs(got[name].std() / sd - 1) < 4 * np.sqrt((kurtosis - 1) / (4 * 4000)), name
    assert abs(np.corrcoef(got["a"], got["b"])[0, 1]) < 0.2  # independent keys per parameter


def test_config_rejects_bins_that_do_not_divide_and_too_few_draws():
    with pytest.raises(BayescmoeError, match="bins"):
        SBCConfig(num_ranks=99, bins=7)
    with pytest.raises(BayescmoeError, match="num_ranks"):
        SBCConfig(num_ranks=99, bins=10, num_chains=1, num_samples=50)


@pytest.mark.slow
def test_quick_run_writes_results_and_resumes_without_refitting(tmp_path, capsys):
    argv = ["--quick", "--settings", "distinguishable", "--sims", "6", "--no-progress", "--seed", str(seed(0))]
    argv += ["--out", str(tmp_path)]
    assert _main(argv) == 0
    printed = capsys.readouterr().out
    assert "PIT p" in printed and "chi2 p" in printed and "loglik" in printed and "simulations fitted now 6" in printed
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sbc-distinguishable-ecdf.png", "sbc-distinguishable.png"]
    with xr.open_dataset(tmp_path / "sbc.nc", engine="h5netcdf") as saved:
        first = saved.load()
    assert first.sizes == {"setting": 1, "n": 1, "replicate": 6, "param": 5}
    assert list(first["param"].values) == ["lam", "a[0]", "b", "nu", "loglik"]
    pits = first["pit"].values
    assert np.all((pits > 0) & (pits < 1)) and np.all(first["kept"].values >= 1)
    assert first["done"].values.all()
    ranks = first["rank"].values
    assert np.all((ranks >= 0) & (ranks <= 19)) and np.all(ranks == np.round(ranks))
    assert len(np.unique(first["truth"].values[..., 0])) == 6  # a fresh theta per simulation
    assert not (tmp_path / "sbc.nc.journal.jsonl").exists()

    assert _main(argv) == 0  # resume: every simulation is done, nothing refitted
    assert "simulations fitted now 0" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "sbc.nc", engine="h5netcdf") as saved:
        xr.testing.assert_identical(saved.load(), first)

    assert _main([*argv[:-4], "--seed", str(seed(1)), "--out", str(tmp_path)]) == 2  # another config: refused
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
