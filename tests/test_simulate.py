"""The simulator draws from the model's conditional law; X samplers; n-dependent truths."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import key, make_params, make_spec, most_seeds, ref_cdf, ref_gate_weight
from scipy import stats

from bayescmoe.errors import BayescmoeError
from bayescmoe.model.simulate import sample_x, sample_y, simulate
from bayescmoe.model.truth import Rate, Truth, merging_prompt, vanishing_weight

N_GOF = 20_000


def _simulate(spec, params, n, k, x_dist="normal"):
    x, y = simulate(key(k), spec, {name: jnp.asarray(v) for name, v in params.items()}, n, x_dist)
    return np.asarray(x), np.asarray(y)


# ----------------------------------------------------------------------------------------------
# goodness of fit of Y | X
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gate", ["constant", "sigmoid"])
@pytest.mark.parametrize("family", ["laplace", "student_t", "laplace_scale"])
def test_pit_of_simulated_y_is_uniform(family, gate):
    """Probability integral transform under the true conditional mixture CDF is U(0, 1): the KS p-value, itself
    uniform, above 1e-3 at a majority of 3 seeds."""
    spec = make_spec(family, gate=gate, nu=2.0)
    params = make_params(spec, nu=0.5)

    def uniform(k: int) -> bool:
        x, y = _simulate(spec, params, N_GOF, k=k)
        return stats.kstest(ref_cdf(spec, params, x, y), "uniform").pvalue > 1e-3

    most_seeds(uniform, 11)


@pytest.mark.parametrize("gate", ["constant", "sigmoid"])
@pytest.mark.parametrize("prompt_family", ["laplace", "student_t"])
def test_pit_with_a_prompt_of_another_family_is_uniform(prompt_family, gate):
    """The same PIT test with a Laplace or Student-t(4) prompt (nu its variance) against a Gaussian f0."""
    spec = make_spec("gaussian", gate=gate, nu=2.0, prompt_family=prompt_family)
    params = make_params(spec, nu=0.5)

    def uniform(k: int) -> bool:
        x, y = _simulate(spec, params, N_GOF, k=k)
        return stats.kstest(ref_cdf(spec, params, x, y), "uniform").pvalue > 1e-3

    most_seeds(uniform, 21)


def test_pit_test_has_power_against_a_wrong_prompt_family():
    """Control: the KS test rejects Laplace prompt draws read through a Gaussian prompt's CDF."""
    spec = make_spec("gaussian", nu=2.0, prompt_family="laplace")
    params = make_params(spec, nu=0.5, lam=0.9)
    x, y = _simulate(spec, params, N_GOF, k=21)
    assert stats.kstest(ref_cdf(make_spec("gaussian", nu=2.0), params, x, y), "uniform").pvalue < 1e-3


def test_pit_test_has_power_against_a_wrong_convention():
    """Control: the same KS test rejects when the Laplace nu is read as a scale instead of a variance."""
    spec_var, spec_scale = make_spec("laplace", nu=2.0), make_spec("laplace_scale", nu=2.0)
    params = make_params(spec_var, nu=0.5)
    x, y = _simulate(spec_var, params, N_GOF, k=11)
    assert stats.kstest(ref_cdf(spec_scale, params, x, y), "uniform").pvalue < 1e-3


@pytest.mark.parametrize("gate", ["constant", "sigmoid"])
def test_prompt_share_matches_the_gate(gate):
    """Prompt draws of a very narrow, far-away prompt are identifiable; their share is E w(x)."""
    spec = make_spec("gaussian", gate=gate, nu=1.0)
    params = make_params(spec, a=np.zeros(2), b=50.0, nu=1e-6)
    x, y = _simulate(spec, params, N_GOF, k=12)
    from_prompt = np.abs(y - 50.0) < 0.01
    w = ref_gate_weight(spec, params, x)
    assert from_prompt.mean() == pytest.approx(w.mean(), abs=4 * np.sqrt(0.25 / N_GOF))
    # and the gate's dependence on x shows: prompt draws have larger w(x) on average (sigmoid gate)
    if gate == "sigmoid":
        assert w[from_prompt].mean() > w[~from_prompt].mean() + 0.05


def test_sample_y_is_reproducible_and_key_dependent():
    spec = make_spec("student_t", gate="sigmoid")
    params = {k: jnp.asarray(v) for k, v in make_params(spec).items()}
    x = sample_x(key(0), 50, 2)
    y1 = sample_y(key(1), spec, params, x)
    y2 = sample_y(key(1), spec, params, x)
    y3 = sample_y(key(2), spec, params, x)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, y3)
    assert y1.shape == (50,)


# ----------------------------------------------------------------------------------------------
# X samplers
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 8])
def test_sample_x_ball(d):
    n = 20_000

    def uniform_radius(k: int) -> bool:
        x = np.asarray(sample_x(key(k), n, d, "ball"))
        assert x.shape == (n, d)
        r = np.linalg.norm(x, axis=1)
        assert np.all(r <= 1.0 + 1e-12)
        # directions are isotropic: mean ~ 0, covariance = I / (d + 2) (atol 0.01: at least 4.7 s.e.)
        assert np.all(np.abs(x.mean(axis=0)) < 5 * np.sqrt(1.0 / (d + 2) / n))
        np.testing.assert_allclose(np.cov(x.T).reshape(d, d), np.eye(d) / (d + 2), atol=0.01)
        # uniform on the ball: P(R <= r) = r^d, so R^d ~ U(0, 1) (a uniform p-value: a majority of seeds)
        return stats.kstest(r**d, "uniform").pvalue > 1e-3

    most_seeds(uniform_radius, 10 * d)


def test_sample_x_ball_radius_test_has_power():
    """Control: the radius of N(0, I) draws projected into the ball naively is not r^d distributed."""
    d, n = 3, 20_000
    z = np.asarray(sample_x(key(0), n, d, "normal"))
    r = np.minimum(np.linalg.norm(z, axis=1) / 3.0, 1.0)
    assert stats.kstest(r**d, "uniform").pvalue < 1e-3


@pytest.mark.parametrize("d", [1, 4])
def test_sample_x_normal(d):
    n = 20_000

    def normal(k: int) -> bool:
        x = np.asarray(sample_x(key(k), n, d, "normal"))
        assert x.shape == (n, d)
        assert np.all(np.abs(x.mean(axis=0)) < 5 / np.sqrt(n))
        np.testing.assert_allclose(np.cov(x.T).reshape(d, d), np.eye(d), atol=0.05)
        return stats.kstest(x[:, 0], "norm").pvalue > 1e-3  # a uniform p-value: a majority of seeds

    most_seeds(normal, 7)


def test_simulate_shapes_and_x_distribution():
    spec = make_spec("laplace", weight=(1.0, 0.0, -1.0))
    params = make_params(spec)
    x, y = _simulate(spec, params, 500, k=3, x_dist="ball")
    assert x.shape == (500, 3) and y.shape == (500,)
    assert np.all(np.linalg.norm(x, axis=1) <= 1.0 + 1e-12)
    assert np.all(np.isfinite(y))


def test_sample_x_rejects_unknown_kind():
    with pytest.raises(BayescmoeError) as err:
        sample_x(key(0), 10, 2, "uniform")
    assert err.value.field == "x_dist"


# ----------------------------------------------------------------------------------------------
# n-dependent truths
# ----------------------------------------------------------------------------------------------


def test_vanishing_weight_schedule():
    spec = make_spec("student_t")
    base = {k: v for k, v in make_params(spec).items() if k != "lam"}
    truth = vanishing_weight(base, coef=0.5, alpha=0.25)
    for n in (1, 100, 10_000, 123_456):
        at = truth.at(spec, n)
        assert float(at["lam"]) == pytest.approx(0.5 * n**-0.25, rel=1e-14)
        for k, v in base.items():
            np.testing.assert_array_equal(at[k], v)
    # the weight decreases with n
    assert float(truth.at(spec, 10**6)["lam"]) < float(truth.at(spec, 10**3)["lam"])


def test_merging_prompt_schedule():
    spec = make_spec("gaussian", weight=(1.0, -0.5), bias=0.3, nu=0.2)
    direction = {"a": [1.0, 2.0], "nu": 0.5}
    truth = merging_prompt(spec, {"lam": 0.4}, coef=2.0, alpha=1 / 8, direction=direction)
    for n in (10, 1000, 10**5):
        at = truth.at(spec, n)
        step = 2.0 * n ** (-1 / 8)
        np.testing.assert_allclose(at["a"], np.array([1.0, -0.5]) + step * np.array([1.0, 2.0]), rtol=1e-14)
        assert float(at["nu"]) == pytest.approx(0.2 + step * 0.5, rel=1e-14)
        assert float(at["b"]) == 0.3  # no perturbation: stays at the frozen bias
        assert float(at["lam"]) == 0.4
    # Delta* -> 0: the prompt approaches the frozen expert
    far, near = truth.at(spec, 10), truth.at(spec, 10**8)
    assert np.linalg.norm(near["a"] - np.array([1.0, -0.5])) < np.linalg.norm(far["a"] - np.array([1.0, -0.5]))


def test_merging_prompt_with_sigmoid_gate_and_no_bias():
    spec = make_spec("gaussian", mean="tanh", gate="sigmoid", weight=(1.0, 0.0, 0.0), bias=None, prompt_bias=False)
    gate = {"beta": np.ones(3) / np.sqrt(3), "tau": 1.0}
    truth = merging_prompt(spec, gate, coef=1.0, alpha=1 / 8, direction={"a": [1.0, 0.0, 0.0]})
    at = truth.at(spec, 256)
    np.testing.assert_allclose(at["a"], [1.0 + 256 ** (-1 / 8), 0.0, 0.0], rtol=1e-14)
    assert set(at) == {"beta", "tau", "a", "nu"}


def test_merging_prompt_needs_same_structure():
    spec = make_spec("gaussian", mean="linear", prompt_mean="sigmoid")
    with pytest.raises(BayescmoeError) as err:
        merging_prompt(spec, {"lam": 0.3}, 1.0, 0.125, {"a": [1.0, 0.0]})
    assert err.value.field == "truth"


def test_truth_config_round_trip():
    spec = make_spec("gaussian")
    truth = merging_prompt(spec, {"lam": 0.3}, coef=1.5, alpha=0.125, direction={"a": [1.0, -1.0], "b": 0.5})
    config = truth.to_config()
    again = Truth.from_config(json.loads(json.dumps(config)))  # survives JSON
    assert again.to_config() == config
    for n in (7, 1000, 10**6):
        a, b = truth.at(spec, n), again.at(spec, n)
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    plain = Truth(make_params(spec))
    assert "rates" not in plain.to_config()
    assert Truth.from_config(plain.to_config()).to_config() == plain.to_config()


def test_rate_at():
    assert Rate(2.0, 0.5).at(16) == pytest.approx(0.5)
    np.testing.assert_allclose(Rate([1.0, -2.0], 1.0).at(4), [0.25, -0.5])
