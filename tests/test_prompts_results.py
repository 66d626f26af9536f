"""Two prompts end to end: the fit, its prompt dimension that ArviZ reads, the file, predict against NumPy."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr
from helpers import key, quiet_fit, seed
from scipy import stats
from scipy.special import logsumexp

import bayescmoe
from bayescmoe.model.settings import Setting
from bayescmoe.model.simulate import simulate
from bayescmoe.results.datatree import data_of, load, params_of, save
from bayescmoe.results.tables import fit_table

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).parents[1] / "models" / "configs" / "two-prompts.toml"
SIZES = {"num_warmup": 150, "num_samples": 100, "num_chains": 2, "prior_draws": 50}


@pytest.fixture(scope="module")
def fitted():
    """The two-prompts config (a Gaussian and a Student-t(5) prompt, d = 2) at n = 400, MLE, MAP and NUTS."""
    setting = Setting.from_file(CONFIG)
    truth = setting.truth.at(setting.spec, 400)
    x, y = simulate(key(11), setting.spec, truth, 400)
    dt = quiet_fit(setting.spec, np.asarray(x), np.asarray(y), truth=truth, key=seed(12), **SIZES)
    return setting.spec, truth, dt


def test_every_parameter_group_has_the_prompt_dimension(fitted, tmp_path):
    dt = fitted[2]
    post = dt["posterior"]
    assert post["lam"].dims == ("chain", "draw", "prompt") and post["a"].dims == ("chain", "draw", "prompt", "feature")
    assert list(post["prompt"].values) == [0, 1]
    for group in ("mle", "map", "truth", "prior", "unconstrained_posterior"):
        assert dt[group]["b"].dims[-1] == "prompt", group
    # weights on the simplex in every draw and estimate
    assert np.all(post["lam"].values > 0) and np.all(post["lam"].sum("prompt").values < 1)
    # ArviZ reads it whole: summary labels, LOO over the pointwise log-likelihood
    labels = set(az.summary(dt, var_names=["a", "lam"], kind="stats").index)
    assert {"a[1, 0]", "a[0, 1]", "lam[0]", "lam[1]"} <= labels
    assert np.isfinite(az.loo(dt).elpd)
    table = fit_table(dt)
    assert len(table) == 10 and {"truth", "mle", "map", "post_mean"} <= set(table.columns)
    # the file round trip keeps every group
    path = save(dt, tmp_path / "two.nc")
    back = load(path)
    xr.testing.assert_identical(back["posterior"].to_dataset(), post.to_dataset())
    assert [line.split()[0] for line in bayescmoe.describe(back).splitlines() if line.startswith("lam[")] == [
        "lam[0]",
        "lam[1]",
    ]


def test_estimates_are_labelled_as_the_truth_and_not_below_it(fitted):
    spec, truth, dt = fitted
    mle = params_of(dt, "mle")
    # the prompts are 2 noise sds apart in b and differ in family: each estimate sits next to its own truth
    assert np.all(np.abs(mle["b"] - truth["b"]) < 0.5), mle["b"]
    x, y = data_of(dt)
    at_truth = float(np.sum(bayescmoe.log_likelihood(spec, truth, x, y)))
    assert dt["mle"].attrs["log_likelihood"] >= at_truth - 1e-6


def _reference_density(point, x, y):
    """The mixture at one point, from the maths: (1 - sum lam) N(x1, 0.1) + lam0 N(h0, nu0) + lam1 t5(h1, nu1)."""
    h = x @ point["a"].T + point["b"]
    scale_t = np.sqrt(point["nu"][1] * 3.0 / 5.0)
    terms = [
        np.log1p(-point["lam"].sum()) + stats.norm.logpdf(y, x[:, 0], np.sqrt(0.1)),
        np.log(point["lam"][0]) + stats.norm.logpdf(y, h[:, 0], np.sqrt(point["nu"][0])),
        np.log(point["lam"][1]) + stats.t.logpdf(y, 5.0, h[:, 1], scale_t),
    ]
    return np.stack(terms, axis=1), h


def test_predict_at_the_map_matches_numpy(fitted):
    dt = fitted[2]
    rng = np.random.default_rng(seed(13))
    x_new = rng.standard_normal((25, 2))
    y_new = rng.standard_normal(25)
    out = bayescmoe.predict(dt, x_new, y_new=y_new, method="map", num_samples=50, key=seed(14))
    point = params_of(dt, "map")
    terms, h = _reference_density(point, x_new, y_new)
    lam = point["lam"]
    mean = (1 - lam.sum()) * x_new[:, 0] + h @ lam
    np.testing.assert_allclose(out["mean"].values, mean, rtol=1e-10, atol=1e-12)
    assert out["gate"].dims == ("obs", "prompt")
    np.testing.assert_allclose(out["gate"].values, np.broadcast_to(lam, (25, 2)), rtol=1e-12)
    log_p = logsumexp(terms, axis=1)
    np.testing.assert_allclose(out["log_predictive_density"].values, log_p, rtol=1e-10, atol=1e-12)
    responsibility = np.exp(terms[:, 1:] - log_p[:, None])
    np.testing.assert_allclose(out["responsibility"].values, responsibility, rtol=1e-9, atol=1e-12)
    assert np.all(out["responsibility"].sum("prompt").values <= 1 + 1e-12)


def test_predict_over_the_posterior_has_a_band_per_prompt(fitted):
    _, _, dt = fitted
    x_new = np.random.default_rng(seed(15)).standard_normal((10, 2))
    out = bayescmoe.predict(dt, x_new, key=seed(16))
    assert out["gate_lower"].dims == ("obs", "prompt") and out["y"].shape == (2, 100, 10)
    assert np.all(out["gate_lower"].values <= out["gate"].values) and np.all(out["gate"] <= out["gate_upper"])
    assert np.all(out["mean_lower"].values <= out["mean_upper"].values)
