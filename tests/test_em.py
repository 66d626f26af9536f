"""EM: monotone log-likelihood, the same optimum as direct L-BFGS, closed-form M-steps = numerical ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import key

from bayescmoe.inference.em import em_fit, gate_m_step, mean_loglik, prompt_m_step, responsibilities
from bayescmoe.inference.lbfgs import minimize
from bayescmoe.inference.optimize import lbfgs_solve
from bayescmoe.model.params import constrain, unconstrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate


def _data(name: str, n: int, k: int = 3):
    setting = get_setting(name)
    spec = setting.spec.with_priors("flat")
    truth = setting.truth.at(setting.spec, n)
    x, y = simulate(key(k), spec, truth, n)
    return spec, truth, x, y, jnp.ones(n)


def _perturbed(spec, truth, scale=0.3, k=0):
    u = unconstrain(spec, truth)
    keys = dict(zip(u, jax.random.split(key(k), len(u)), strict=True))
    return {k: v + scale * jax.random.normal(keys[k], v.shape) for k, v in u.items()}


# one setting per kind of M-step: closed form (linear prompt, constant gate), quasi-Newton prompt
# (sigmoid prompt), quasi-Newton gate (sigmoid gate, tanh prompt)
SETTINGS = ["p1-merging", "p1-structure", "p2-distinguishable"]


@pytest.mark.parametrize("name", SETTINGS)
def test_em_never_decreases_the_log_likelihood(name):
    spec, truth, x, y, mask = _data(name, 600)
    res = em_fit(spec, constrain(spec, _perturbed(spec, truth)), x, y, mask, 300, 1e-12)
    trace = np.asarray(res.trace)
    trace = trace[np.isfinite(trace)]
    assert len(trace) == int(res.n_iter) + 1 > 3
    assert np.all(np.diff(trace) >= -1e-10), np.diff(trace).min()
    assert trace[-1] > trace[0] + 1e-3  # it climbed from the perturbed start


@pytest.mark.slow
@pytest.mark.parametrize("name", SETTINGS)
def test_em_and_direct_reach_the_same_optimum(name):
    spec, truth, x, y, mask = _data(name, 800)
    u0 = _perturbed(spec, truth, scale=0.1)
    em = em_fit(spec, constrain(spec, u0), x, y, mask, 5000, 1e-13)
    direct = lbfgs_solve(u0, spec, x, y, mask, 2000, 1e-9)
    assert bool(em.converged) and bool(direct.converged)
    assert float(em.mean_loglik) == pytest.approx(-float(direct.objective), abs=1e-8)
    params = constrain(spec, direct.u)
    for k in spec.param_names:
        np.testing.assert_allclose(em.params[k], params[k], rtol=2e-3, atol=2e-4)


def test_closed_form_prompt_m_step_matches_numerical():
    spec, truth, x, y, mask = _data("p1-merging", 500)
    params = {k: jnp.asarray(v) for k, v in truth.items()}
    r = jax.random.uniform(key(1), y.shape)  # arbitrary responsibilities
    closed = prompt_m_step(spec, params, x, y, r, mask, closed_form=True)
    numeric = prompt_m_step(spec, params, x, y, r, mask, closed_form=False)
    for k in ("a", "b", "nu"):
        np.testing.assert_allclose(closed[k], numeric[k], rtol=1e-6, atol=1e-8)

    # and it maximises the weighted Gaussian log-likelihood: a nudge lowers it
    def q(p):
        return float(jnp.sum(r * jax.scipy.stats.norm.logpdf(y, x @ p["a"] + p["b"], jnp.sqrt(p["nu"]))))

    nudged = {**closed, "b": closed["b"] + 1e-3}
    assert q(closed) > q(nudged)


def test_closed_form_gate_m_step_matches_numerical():
    spec, truth, x, y, mask = _data("p1-merging", 500)
    params = {k: jnp.asarray(v) for k, v in truth.items()}
    r = responsibilities(spec, params, x, y)
    lam = gate_m_step(spec, params, x, r, mask)["lam"]

    def loss(v):  # -Q_gate over logit(lam)
        lam_v = jax.nn.sigmoid(v[0])
        return -jnp.mean(r * jnp.log(lam_v) + (1 - r) * jnp.log1p(-lam_v))

    numeric = jax.nn.sigmoid(minimize(loss, jnp.zeros(1), max_iter=200, tol=1e-12).x[0])
    assert float(lam) == pytest.approx(float(numeric), rel=1e-7)


@pytest.mark.slow
def test_masked_rows_are_ignored():
    spec, truth, x, y, mask = _data("p1-family", 400)
    params = {k: jnp.asarray(v) for k, v in truth.items()}
    padded_x = jnp.concatenate([x, 100.0 * jnp.ones((50, x.shape[1]))])
    padded_y = jnp.concatenate([y, 1e3 * jnp.ones(50)])
    padded_mask = jnp.concatenate([mask, jnp.zeros(50)])
    assert float(mean_loglik(spec, params, padded_x, padded_y, padded_mask)) == pytest.approx(
        float(mean_loglik(spec, params, x, y, mask)), rel=1e-12
    )
    a = em_fit(spec, params, x, y, mask, 50, 1e-12)
    b = em_fit(spec, params, padded_x, padded_y, padded_mask, 50, 1e-12)
    for k in spec.param_names:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-9)
