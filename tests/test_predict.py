"""Prediction at new rows (bayescmoe.predict, bayescmoe predict): against NumPyro's Predictive, an independent
SciPy computation, and fresh draws from the truth."""

from __future__ import annotations

import csv

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    key,
    make_params,
    make_spec,
    quiet_fit,
    ref_frozen_dist,
    ref_frozen_mean,
    ref_gate_weight,
    ref_log_likelihood,
    ref_prompt_dist,
    ref_prompt_mean,
    seed,
)
from numpyro.infer import Predictive
from scipy import special

from bayescmoe.cli import main
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.numpyro_model import model
from bayescmoe.model.simulate import simulate
from bayescmoe.results.datatree import load, save, spec_of, to_datatree
from bayescmoe.workflow.predicting import predict

#: new rows of the shared fit's model
M = 1000


@pytest.fixture(scope="module")
def result(distinguishable_fit):
    f = distinguishable_fit
    return to_datatree(f.spec, f.x, f.y, nuts=f.nuts, estimates=[f.mle, f.map], truth=f.truth, predictive=False)


@pytest.fixture(scope="module")
def new_rows(distinguishable_fit):
    f = distinguishable_fit
    x, y = simulate(key(11), f.spec, {k: jnp.asarray(v) for k, v in f.truth.items()}, M)
    return np.asarray(x), np.asarray(y)


@pytest.mark.slow
def test_predictive_draws_are_numpyros(result, new_rows, distinguishable_fit):
    x, _ = new_rows
    spec = distinguishable_fit.spec
    out = predict(result, x[:50], key=seed(3))
    post = result["posterior"]
    flat = {k: post[k].values.reshape(-1, *post[k].shape[2:]) for k in spec.param_names}
    theirs = Predictive(model, posterior_samples=flat, return_sites=["y"])(key(3), spec, x[:50])["y"]
    np.testing.assert_array_equal(out["y"].values.reshape(-1, 50), np.asarray(theirs))
    assert out["y"].dims == ("chain", "draw", "obs") and list(out["feature"].values) == ["x1", "x2"]


def _responsibilities(spec, draws, x, y):
    """P(prompt | x, y, theta) = w g / p per draw (rows), by SciPy."""
    return np.array(
        [
            np.exp(
                np.log(ref_gate_weight(spec, p, x))
                + ref_prompt_dist(spec, p, x).logpdf(y)
                - ref_log_likelihood(spec, p, x, y)
            )
            for p in draws
        ]
    )


@pytest.mark.slow
def test_summaries_match_an_independent_scipy_computation(result, new_rows, distinguishable_fit):
    x, y = new_rows
    x, y = x[:40], y[:40]
    spec = distinguishable_fit.spec
    out = predict(result, x, y_new=y, ci_prob=0.8)
    post = result["posterior"]
    draws = [{k: post[k].values[c, d] for k in spec.param_names} for c in range(2) for d in range(300)]
    h0 = ref_frozen_mean(spec, x)
    means = np.array(
        [
            (1 - ref_gate_weight(spec, p, x)) * h0 + ref_gate_weight(spec, p, x) * ref_prompt_mean(spec, p, x)
            for p in draws
        ]
    )
    gates = np.array([ref_gate_weight(spec, p, x) for p in draws])
    log_p = np.array([ref_log_likelihood(spec, p, x, y) for p in draws])
    resp = _responsibilities(spec, draws, x, y)
    np.testing.assert_allclose(out["h0"], h0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["mean"], means.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["mean_lower"], np.quantile(means, 0.1, axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["gate_upper"], np.quantile(gates, 0.9, axis=0), rtol=1e-10)
    np.testing.assert_allclose(out["responsibility"], resp.mean(axis=0), rtol=1e-9, atol=1e-12)
    lpd = special.logsumexp(log_p, axis=0) - np.log(len(draws))
    np.testing.assert_allclose(out["log_predictive_density"], lpd, rtol=1e-10)
    frozen = ref_frozen_dist(spec, h0).logpdf(y)
    np.testing.assert_allclose(out["log_predictive_density_frozen"], frozen, rtol=1e-12)
    diff = lpd - frozen
    assert out.attrs["elpd_diff"] == pytest.approx(diff.sum(), rel=1e-10)
    assert out.attrs["elpd_diff_se"] == pytest.approx(np.sqrt(len(diff)) * np.std(diff, ddof=1), rel=1e-10)


@pytest.mark.slow
def test_the_interval_covers_fresh_draws_from_the_truth(result, new_rows):
    """The 90% predictive interval covers about 90% of M fresh rows: within 4 binomial standard errors."""
    x, y = new_rows
    out = predict(result, x, ci_prob=0.9, key=seed(5))
    covered = np.mean((out["y_pred_lower"].values <= y) & (y <= out["y_pred_upper"].values))
    assert abs(covered - 0.9) < 4 * np.sqrt(0.9 * 0.1 / M), covered


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mle", "map"])
def test_a_plug_in_point_predicts_from_its_own_parameters(result, new_rows, distinguishable_fit, method):
    x, y = new_rows
    spec = distinguishable_fit.spec
    out = predict(result, x[:30], y_new=y[:30], method=method, num_samples=200)
    point = getattr(distinguishable_fit, method).params
    assert out.sizes["chain"] == 1 and out.sizes["draw"] == 200
    np.testing.assert_allclose(out["gate_lower"], out["gate_upper"])  # one point: no band
    np.testing.assert_allclose(
        out["log_predictive_density"], ref_log_likelihood(spec, point, x[:30], y[:30]), rtol=1e-10
    )


@pytest.mark.slow
def test_bad_calls_name_the_field(result, new_rows):
    x, y = new_rows
    for kwargs, field in (
        ({"method": "vi"}, "method"),
        ({"ci_prob": 1.5}, "ci_prob"),
        ({"y_new": y[:3]}, "y"),
        ({"num_samples": 0}, "num_samples"),
    ):
        with pytest.raises(BayescmoeError) as err:
            predict(result, x[:5], **kwargs)
        assert err.value.field == field
    with pytest.raises(BayescmoeError) as err:
        predict(result, x[:5, :1])
    assert err.value.field == "x"
    without = result.copy()
    del without["posterior"]
    with pytest.raises(BayescmoeError, match="no posterior"):
        predict(without, x[:5])


@pytest.mark.slow
def test_predict_command_writes_csv_and_netcdf(result, new_rows, tmp_path, capsys):
    x, y = new_rows
    path = save(result, tmp_path / "fit.nc")
    with_y, without_y = tmp_path / "new.csv", tmp_path / "new-x.csv"
    for file, columns in ((with_y, np.c_[x[:20], y[:20]]), (without_y, x[:20])):
        with file.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["x1", "x2", "y"][: columns.shape[1]])
            out.writerows(columns.tolist())
    assert (
        main(
            [
                "predict",
                str(path),
                "--data",
                str(with_y),
                "--out",
                str(tmp_path / "p.csv"),
                "--ci-prob",
                "0.9",
                "--seed",
                str(seed(0)),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "held-out log predictive density" in printed and "frozen expert alone" in printed
    with (tmp_path / "p.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20 and {"x1", "mean", "y_pred_lower", "responsibility", "log_predictive_density"} <= set(
        rows[0]
    )
    direct = predict(result, x[:20], y_new=y[:20], ci_prob=0.9)
    np.testing.assert_allclose([float(r["mean"]) for r in rows], direct["mean"].values, rtol=1e-12)
    assert (
        main(["predict", str(path), "--data", str(without_y), "--out", str(tmp_path / "p.nc"), "--method", "map"]) == 0
    )
    assert "held-out" not in capsys.readouterr().out
    for argv, field in (
        (["--data", str(without_y), "--out", str(tmp_path / "p.txt")], "out"),
        (["--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "q.csv")], "data"),
    ):
        assert main(["predict", str(path), *argv]) == 2
        assert f"error: {field}:" in capsys.readouterr().err
    assert not (tmp_path / "p.txt").exists() and not (tmp_path / "q.csv").exists()


@pytest.mark.slow
def test_a_laplace_prompt_fits_saves_and_predicts(tmp_path):
    """A short NUTS fit of a Laplace prompt (Gaussian f0) gives finite draws; the saved result reloads with its
    prompt's family; predict's responsibilities use the Laplace density (SciPy), its mean is unchanged."""
    spec = make_spec("gaussian", gate="sigmoid", prompt_family="laplace", nu=0.2)
    truth = make_params(spec, nu=0.3)
    x, y = simulate(key(30), spec, truth, 400)
    dt = quiet_fit(spec, x, y, key=seed(30), truth=truth, num_warmup=150, num_samples=100, num_chains=2, evidence=None)
    post = dt["posterior"]
    assert all(np.isfinite(post[k].values).all() for k in spec.param_names)
    assert dt["mle"].attrs["log_likelihood"] >= float(np.sum(ref_log_likelihood(spec, truth, x, y))) - 1e-6 * 400
    save(dt, tmp_path / "laplace.nc")
    again = load(tmp_path / "laplace.nc")
    assert spec_of(again) == spec and spec_of(again).prompt.family == "laplace"
    xn, yn = (np.asarray(v) for v in simulate(key(31), spec, truth, 30))
    out = predict(again, xn, y_new=yn)
    draws = [{k: post[k].values[c, d] for k in spec.param_names} for c in range(2) for d in range(100)]
    resp = _responsibilities(spec, draws, xn, yn)
    np.testing.assert_allclose(out["responsibility"], resp.mean(axis=0), rtol=1e-9, atol=1e-12)
    w = np.array([ref_gate_weight(spec, p, xn) for p in draws])
    h = np.array([ref_prompt_mean(spec, p, xn) for p in draws])
    means = (1 - w) * ref_frozen_mean(spec, xn) + w * h
    np.testing.assert_allclose(out["mean"], means.mean(axis=0), rtol=1e-10)
