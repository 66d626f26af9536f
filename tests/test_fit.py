"""MLE, MAP, observed information and NUTS in the distinguishable setting (Student-t f0, linear experts,
constant gate, d = 2), checked against the truth and against an independent SciPy likelihood."""

from __future__ import annotations

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import fd_hessian, flatten, key, ref_log_likelihood, ref_log_prior, seed, unflatten

from bayescmoe.inference.optimize import fit_map, fit_mle, observed_information
from bayescmoe.model.params import log_posterior
from bayescmoe.model.simulate import simulate
from bayescmoe.results.datatree import to_datatree

N_LARGE = 12_000  # 4 x the shared n = 3000
#: every test here uses the shared NUTS, MLE and MAP fit (conftest.distinguishable_fit)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared(distinguishable_fit):
    return distinguishable_fit


@pytest.fixture(scope="module")
def large_fit(shared):
    """An independent data set of 4n = 12000 from the same truth, and its MLE."""
    spec, truth = shared.spec, shared.truth
    x, y = simulate(key(21), spec, {k: jnp.asarray(v) for k, v in truth.items()}, N_LARGE)
    x, y = np.asarray(x), np.asarray(y)
    return x, y, fit_mle(spec, x, y, init=truth, key=seed(1), num_random_starts=2)


@pytest.fixture(scope="module")
def posterior(shared):
    return to_datatree(shared.spec, shared.x, shared.y, nuts=shared.nuts, log_likelihood=False)


def _ref_total(spec, x, y):
    return lambda theta: float(np.sum(ref_log_likelihood(spec, unflatten(spec, theta), x, y)))


def _fd_gradient(fun, theta, rel_step=1e-6):
    h = rel_step * np.maximum(np.abs(theta), 1.0)
    grad = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h[i]
        grad[i] = (fun(theta + e) - fun(theta - e)) / (2 * h[i])
    return grad


# ----------------------------------------------------------------------------------------------
# maximum likelihood
# ----------------------------------------------------------------------------------------------


def test_mle_recovers_truth_at_large_n(shared, large_fit):
    _, _, est = large_fit
    assert est.kind == "mle"
    assert est.converged and est.information_pd
    assert est.grad_norm < 1e-5
    for name, true in shared.truth.items():
        se = est.se[name]
        assert np.all(np.isfinite(se)) and np.all(se > 0), name
        z = (est.params[name] - true) / se
        assert np.all(np.abs(z) < 4.0), (name, est.params[name], true, se)


def test_mle_maximises_the_scipy_likelihood(shared):
    spec, x, y, est = shared.spec, shared.x, shared.y, shared.mle
    total = _ref_total(spec, x, y)
    theta = flatten(spec, est.params)
    se = flatten(spec, est.se)
    assert est.log_likelihood == pytest.approx(total(theta), rel=1e-10)
    # stationary: moving one standard error along the gradient would gain almost nothing
    grad = _fd_gradient(total, theta)
    assert np.all(np.abs(grad * se) < 1e-3), grad * se
    # and a maximum: no better than the truth, the MAP, or +-0.1 se perturbations
    assert total(theta) >= total(flatten(spec, shared.truth))
    assert total(theta) >= total(flatten(spec, shared.map.params))
    for i in range(theta.size):
        for sign in (-1.0, 1.0):
            step = np.zeros_like(theta)
            step[i] = sign * 0.1 * se[i]
            assert total(theta + step) < total(theta)


def test_random_starts_find_the_same_mle(shared):
    est = fit_mle(shared.spec, shared.x, shared.y, key=seed(5), num_random_starts=2)
    assert est.converged
    assert len(est.start_objectives) == 2
    for name, value in shared.mle.params.items():
        np.testing.assert_allclose(est.params[name], value, rtol=1e-6, atol=1e-7)


def test_best_start_is_reported(shared):
    est = shared.mle
    assert len(est.start_objectives) == 3  # the init and two random starts
    assert est.best_start == int(np.nanargmin(est.start_objectives))
    # the objective is -loglik / n at the optimum
    assert est.start_objectives[est.best_start] == pytest.approx(-est.log_likelihood / len(shared.y), rel=1e-10)


# ----------------------------------------------------------------------------------------------
# MAP
# ----------------------------------------------------------------------------------------------


def test_map_with_flat_priors_is_the_mle(shared):
    spec = shared.spec
    est = fit_map(
        spec.with_priors("flat"), shared.x, shared.y, init=shared.truth, key=seed(0), num_random_starts=2, kind="mle"
    )
    assert est.kind == shared.mle.kind == "mle"
    assert est.log_prior == shared.mle.log_prior == 0.0
    for name, value in shared.mle.params.items():
        np.testing.assert_allclose(est.params[name], value, rtol=1e-8, atol=1e-10)
    # spelling every prior out as flat is the same model
    explicit = spec.with_priors({name: "flat" for name in spec.param_names})
    assert explicit == spec.with_priors("flat")


def test_map_with_default_priors_differs_slightly_from_mle(shared):
    spec, mle, map_ = shared.spec, shared.mle, shared.map
    assert map_.kind == "map" and map_.converged
    shift = np.abs(flatten(spec, map_.params) - flatten(spec, mle.params)) / flatten(spec, mle.se)
    assert shift.max() > 1e-4  # the prior moves the estimate...
    assert shift.max() < 0.5  # ...by much less than a standard error at n = 3000
    assert map_.log_likelihood <= mle.log_likelihood
    assert map_.log_prior == pytest.approx(ref_log_prior(spec, map_.params), rel=1e-10)
    # the MAP maximises log-likelihood + log prior in the natural parameters (no Jacobian)
    x, y = jnp.asarray(shared.x), jnp.asarray(shared.y)
    at_map = float(log_posterior(spec, {k: jnp.asarray(v) for k, v in map_.params.items()}, x, y))
    at_mle = float(log_posterior(spec, {k: jnp.asarray(v) for k, v in mle.params.items()}, x, y))
    assert at_map > at_mle
    total = _ref_total(spec, shared.x, shared.y)
    posterior = lambda theta: total(theta) + ref_log_prior(spec, unflatten(spec, theta))  # noqa: E731
    grad = _fd_gradient(posterior, flatten(spec, map_.params))
    assert np.all(np.abs(grad * flatten(spec, map_.se)) < 1e-3), grad


# ----------------------------------------------------------------------------------------------
# observed information and standard errors
# ----------------------------------------------------------------------------------------------


def test_standard_errors_match_finite_difference_hessian(shared):
    spec, est = shared.spec, shared.mle
    assert est.labels == ("a[0]", "a[1]", "b", "lam", "nu")
    hessian = fd_hessian(_ref_total(spec, shared.x, shared.y), flatten(spec, est.params))
    np.testing.assert_allclose(est.information, -hessian, rtol=1e-4, atol=1e-4 * np.abs(hessian).max())
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    np.testing.assert_allclose(flatten(spec, est.se), se, rtol=1e-3)


def test_observed_information_adds_the_prior_curvature(shared):
    spec, x, y = shared.spec, jnp.asarray(shared.x), jnp.asarray(shared.y)
    params = {k: jnp.asarray(v) for k, v in shared.truth.items()}
    with_prior = np.asarray(observed_information(spec, params, x, y))
    flat = np.asarray(observed_information(spec.with_priors("flat"), params, x, y))
    # the difference is minus the Hessian of the log prior, here by finite differences of the SciPy priors
    theta = flatten(spec, shared.truth)
    expected = -fd_hessian(lambda t: ref_log_prior(spec, unflatten(spec, t)), theta)
    assert np.all(np.abs(expected - np.diag(np.diag(expected))) < 1e-6)  # independent priors: diagonal
    assert np.abs(np.diag(expected)).max() > 0.1  # and the test compares something non-trivial
    np.testing.assert_allclose(with_prior - flat, expected, rtol=1e-5, atol=1e-5)
    # symmetric, and positive definite at the truth in this well-identified setting
    np.testing.assert_allclose(flat, flat.T, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(flat) > 0)


def test_standard_errors_scale_like_root_n(shared, large_fit):
    _, _, large = large_fit
    for name in shared.spec.param_names:
        ratio = shared.mle.se[name] / large.se[name]
        assert np.all((ratio > 1.5) & (ratio < 2.5)), (name, ratio)


# ----------------------------------------------------------------------------------------------
# NUTS
# ----------------------------------------------------------------------------------------------


def test_nuts_has_no_divergences(posterior):
    diverging = posterior["sample_stats"]["diverging"].values
    assert diverging.shape == (2, 300)
    assert not diverging.any()


def test_nuts_chains_converged(posterior):
    rhat = az.rhat(posterior)
    for name in ("lam", "a", "b", "nu"):
        assert np.all(rhat[name].values < 1.05), (name, rhat[name].values)
    summary = az.summary(posterior)
    assert (summary["r_hat"].astype(float) < 1.05).all()
    assert (summary["ess_bulk"].astype(float) > 100).all()


def test_posterior_agrees_with_mle(shared, posterior):
    post = posterior["posterior"]
    for name, value in shared.mle.params.items():
        draws = post[name].values.reshape(-1, *np.shape(value))  # (chain * draw, ...)
        mean, sd = draws.mean(axis=0), draws.std(axis=0)
        assert np.all(np.abs(mean - value) < 3 * sd), (name, mean, value, sd)
        # Bernstein-von Mises: posterior sd ~ MLE standard error at n = 3000
        ratio = sd / shared.mle.se[name]
        assert np.all((ratio > 0.75) & (ratio < 1.33)), (name, ratio)
