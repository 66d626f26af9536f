"""EM: monotone log-likelihood, the same optimum as direct L-BFGS, closed-form M-steps = numerical ones; the
Student-t prompt's scale-mixture M-step; a Laplace prompt refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import key, make_params, make_spec
from scipy import optimize, stats

from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.em import em_fit, gate_m_step, mean_loglik, prompt_m_step
from bayescmoe.inference.lbfgs import minimize
from bayescmoe.inference.optimize import lbfgs_solve
from bayescmoe.model.likelihood import responsibilities
from bayescmoe.model.params import constrain, unconstrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.protocols import Protocol
from bayescmoe.studies.sweep import SweepConfig, run_sweep


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
# (sigmoid prompt), quasi-Newton gate (sigmoid gate, tanh prompt), and the Student-t prompt's
# scale-mixture step with a quasi-Newton mean (tanh, sigmoid gate)
# (the last is slow: its monotone scale-mixture step is also checked alone, fast, below)
SETTINGS = [
    "p1-merging",
    "p1-structure",
    "p2-distinguishable",
    pytest.param("p2-merging-eta-t5", marks=pytest.mark.slow),
]


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


def _student_t_data(frozen: str, k: int, n: int = 600):
    """A Student-t(4) prompt (linear, constant gate, d = 2) with a ``frozen`` f0, simulated at fixed parameters."""
    spec = make_spec(frozen, prompt_family="student_t", priors="flat")
    truth = make_params(spec)
    x, y = simulate(key(k), spec, truth, n)
    return spec, truth, x, y, jnp.ones(n)


@pytest.mark.parametrize("frozen", ["gaussian", "student_t"])
def test_em_with_a_student_t_prompt_never_decreases_the_log_likelihood(frozen):
    """The closed-form (linear) scale-mixture M-step, against a distinguishable and a same-family f0."""
    spec, truth, x, y, mask = _student_t_data(frozen, 5)
    res = em_fit(spec, constrain(spec, _perturbed(spec, truth, k=1)), x, y, mask, 300, 1e-12)
    trace = np.asarray(res.trace)[: int(res.n_iter) + 1]
    assert np.all(np.isfinite(trace)) and np.all(np.diff(trace) >= -1e-10), np.diff(trace).min()
    assert trace[-1] > trace[0] + 1e-3


def test_student_t_prompt_m_step_converges_to_the_weighted_t_mle():
    """Iterated with fixed responsibilities, the scale-mixture step climbs sum r log t_4(y | a.x + b, nu) at every
    step, to the maximiser SciPy finds (nu a variance: scale sqrt(nu (df - 2) / df))."""
    spec, truth, x, y, mask = _student_t_data("gaussian", 6, n=400)
    r = jax.random.uniform(key(7), y.shape)
    xn, yn, rn = np.asarray(x), np.asarray(y), np.asarray(r)

    def q(a, b, nu):
        return float(np.sum(rn * stats.t.logpdf(yn, 4.0, xn @ a + b, np.sqrt(nu / 2.0))))

    params = {k: jnp.asarray(v) for k, v in truth.items()}
    values = [q(truth["a"], truth["b"], truth["nu"])]
    for _ in range(300):
        params = {**params, **prompt_m_step(spec, params, x, y, r, mask)}
        values.append(q(np.asarray(params["a"]), float(params["b"]), float(params["nu"])))
    assert np.all(np.diff(values) >= -1e-9 * abs(values[0])), np.diff(values).min()
    best = optimize.minimize(
        lambda v: -q(v[:2], v[2], np.exp(v[3])),
        np.append(np.append(truth["a"], truth["b"]), np.log(truth["nu"])),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000},
    )
    assert values[-1] >= -best.fun - 1e-7
    np.testing.assert_allclose(np.asarray(params["a"]), best.x[:2], atol=1e-4)
    np.testing.assert_allclose(float(params["nu"]), np.exp(best.x[3]), rtol=1e-4)


def test_em_refuses_a_laplace_prompt_naming_the_field(tmp_path):
    spec = make_spec("gaussian", prompt_family="laplace", priors="flat")
    params = make_params(spec)
    x, y = simulate(key(8), spec, params, 50)
    with pytest.raises(BayescmoeError) as err:
        em_fit(spec, params, x, y, jnp.ones(50))
    assert err.value.field == "prompt.family" and "L-BFGS" in err.value.message
    protocol = Protocol("laplace", ("p1-laplace-prompt",), (1000,), 1)
    with pytest.raises(BayescmoeError) as err:  # before the store is opened
        run_sweep(protocol, tmp_path / "sweep.nc", SweepConfig(estimator="em"), progress=False)
    assert err.value.field == "prompt.family" and not list(tmp_path.iterdir())
