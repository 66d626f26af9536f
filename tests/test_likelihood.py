"""The conditional density p(y | x) of the contaminated MoE: normalisation, agreement with an independent
SciPy implementation (variance conventions included) and numerical stability at the edges."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    FAMILY_CASES,
    MEANS,
    key,
    majority,
    make_params,
    make_spec,
    ref_activation,
    ref_frozen_dist,
    ref_frozen_mean,
    ref_log_likelihood,
    ref_prompt_mean,
    seed,
)
from numpyro.infer.util import potential_energy
from scipy import integrate, special, stats

from bayescmoe.model.experts import ACTIVATIONS, expert_mean
from bayescmoe.model.families import family_logpdf, family_sample, family_scale
from bayescmoe.model.likelihood import (
    BLOCKED_ABOVE,
    frozen_log_density,
    gate_log_weights,
    log_add_exp,
    log_likelihood,
    log_sigmoid,
    prompt_log_density,
    prompt_mean,
)
from bayescmoe.model.numpyro_model import ContaminatedMoE, model
from bayescmoe.model.params import unconstrain
from bayescmoe.model.spec import ModelSpec, PromptExpert

FAMILIES = tuple(FAMILY_CASES)
#: the prompt's families besides the Gaussian
PROMPT_FAMILIES = ("laplace", "student_t")
GATES = ("constant", "sigmoid")
X_POINTS = np.array([[0.3, -1.2], [1.5, 0.7]])


def _jparams(params):
    return {k: jnp.asarray(v) for k, v in params.items()}


def _gate_params(spec):
    """lam = 0.3 for the constant gate; beta = (0.8, -0.5), tau = 0.2 for the sigmoid gate."""
    return make_params(spec)


@functools.cache
def _scalar_density(spec):
    """A compiled y -> p(y | x) for one x (row vector) and fixed parameters."""

    @jax.jit
    def density(params, x, y):
        return jnp.exp(log_likelihood(spec, params, x, jnp.reshape(y, (1,))))[0]

    return density


# ----------------------------------------------------------------------------------------------
# normalisation
# ----------------------------------------------------------------------------------------------


def _assert_integrates_to_one(spec):
    """Quadrature of y -> p(y | x) at each of :data:`X_POINTS`, split at the two experts' means (Laplace kinks)."""
    params = _gate_params(spec)
    density = _scalar_density(spec)
    jp = _jparams(params)
    for x in X_POINTS:
        xr = jnp.asarray(x[None, :])
        f = lambda y: float(density(jp, xr, y))  # noqa: B023, E731
        means = sorted({float(ref_frozen_mean(spec, x[None])[0]), float(ref_prompt_mean(spec, params, x[None])[0])})
        total = integrate.quad(f, -np.inf, means[0], epsabs=1e-12, epsrel=1e-10, limit=200)[0]
        if len(means) == 2:
            total += integrate.quad(f, means[0], means[1], epsabs=1e-12, epsrel=1e-10, limit=200)[0]
        total += integrate.quad(f, means[-1], np.inf, epsabs=1e-12, epsrel=1e-10, limit=200)[0]
        assert total == pytest.approx(1.0, abs=1e-6), (spec.formula(), x)


@pytest.mark.parametrize("gate", GATES)
@pytest.mark.parametrize("mean", MEANS)
@pytest.mark.parametrize("family", FAMILIES)
def test_density_integrates_to_one(family, mean, gate):
    _assert_integrates_to_one(make_spec(family, mean=mean, gate=gate))


@pytest.mark.parametrize("gate", GATES)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("prompt_family", PROMPT_FAMILIES)
def test_density_with_a_prompt_of_another_family_integrates_to_one(prompt_family, family, gate):
    _assert_integrates_to_one(
        make_spec(family, mean="tanh", prompt_mean="linear", gate=gate, prompt_family=prompt_family)
    )


def test_density_integral_detects_a_wrong_weight():
    """Control: the same quadrature on a density with a mis-scaled component is visibly off 1."""
    spec = make_spec("laplace")
    params = _gate_params(spec)
    x = X_POINTS[:1]
    f = lambda y: 1.3 * np.exp(ref_log_likelihood(spec, params, x, np.array([y])))[0]  # noqa: E731
    total = integrate.quad(f, -np.inf, np.inf, limit=200)[0]
    assert abs(total - 1.0) > 0.1


# ----------------------------------------------------------------------------------------------
# agreement with the independent SciPy implementation
# ----------------------------------------------------------------------------------------------


def _random_xy(d=2, n=64, k=0):
    rng = np.random.default_rng(seed(k))
    x = 1.5 * rng.standard_normal((n, d))
    y = 2.0 * rng.standard_normal(n)
    return x, y


@pytest.mark.parametrize(("mean", "gate"), list(itertools.product(MEANS, GATES)))
@pytest.mark.parametrize("family", FAMILIES)
def test_log_likelihood_matches_scipy(family, mean, gate):
    spec = make_spec(family, mean=mean, gate=gate, nu=0.7)
    params = make_params(spec, nu=0.4)
    x, y = _random_xy()
    got = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
    np.testing.assert_allclose(got, ref_log_likelihood(spec, params, x, y), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("gate", GATES)
def test_log_likelihood_matches_scipy_without_biases_and_mixed_structures(gate):
    """P2's bias-free experts (tanh(eta.x)) and P1's linear-vs-sigmoid structures, d = 3."""
    for spec in (
        make_spec("laplace_scale", mean="tanh", bias=None, prompt_bias=False, gate=gate, weight=(1, 0, 0), nu=0.01),
        make_spec("gaussian", mean="linear", prompt_mean="sigmoid", gate=gate, weight=(0.5, 0.2, -1.0)),
    ):
        params = make_params(spec)
        x, y = _random_xy(d=3, k=1)
        got = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
        np.testing.assert_allclose(got, ref_log_likelihood(spec, params, x, y), rtol=1e-10, atol=1e-13)
        assert "b" not in params or spec.prompt.bias


def test_log_likelihood_reference_detects_wrong_convention():
    """Control: reading the Laplace nu as a scale instead of a variance changes the log-likelihood."""
    spec_var, spec_scale = make_spec("laplace", nu=2.0), make_spec("laplace_scale", nu=2.0)
    params = make_params(spec_var)
    x, y = _random_xy()
    got = np.asarray(log_likelihood(spec_var, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
    assert not np.allclose(got, ref_log_likelihood(spec_scale, params, x, y), rtol=1e-3)


@pytest.mark.parametrize("mean", ("linear", "tanh"))
@pytest.mark.parametrize("prompt_family", PROMPT_FAMILIES)
def test_prompt_log_density_matches_scipy(prompt_family, mean):
    """A Laplace prompt has scale sqrt(nu / 2), a Student-t(4) one scale sqrt(nu (df - 2) / df): nu is its
    variance. Its log density against scipy.stats, and the mixture's log-likelihood with it, for both gates."""
    nu = 0.4
    for gate in GATES:
        spec = make_spec("student_t", mean=mean, gate=gate, prompt_family=prompt_family)
        params = make_params(spec, nu=nu)
        x, y = _random_xy(k=2)
        h = ref_prompt_mean(spec, params, x)
        g = stats.laplace(h, np.sqrt(nu / 2.0)) if prompt_family == "laplace" else stats.t(4.0, h, np.sqrt(nu / 2.0))
        np.testing.assert_allclose(g.var(), nu, rtol=1e-12)
        got = np.asarray(prompt_log_density(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
        np.testing.assert_allclose(got, g.logpdf(y), rtol=1e-12, atol=1e-13)
        got = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
        np.testing.assert_allclose(got, ref_log_likelihood(spec, params, x, y), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("family", FAMILIES)
def test_gaussian_prompt_density_is_unchanged(family):
    """The default prompt is Gaussian and computed as before its family was a choice, bit for bit: jax.scipy's
    norm.logpdf at sd sqrt(nu); its spec, config and formula read as before."""
    spec = make_spec(family, mean="tanh")
    assert spec.prompt == PromptExpert("tanh") and spec.prompt.family == "gaussian" and spec.prompt.df is None
    assert ModelSpec.from_config({**spec.to_config(), "prompt": {"mean": "tanh", "bias": True}}) == spec
    assert "+ lam N(y | tanh(a.x + b), nu)" in spec.formula()
    params = _jparams(make_params(spec))
    x, y = (jnp.asarray(v) for v in _random_xy(k=3))
    before = jax.scipy.stats.norm.logpdf(y, prompt_mean(spec, params, x), jnp.sqrt(params["nu"]))
    np.testing.assert_array_equal(np.asarray(prompt_log_density(spec, params, x, y)), np.asarray(before))


@pytest.mark.parametrize("mean", MEANS)
def test_expert_mean_matches_numpy(mean):
    x, _ = _random_xy(d=3)
    w, b = np.array([0.4, -1.1, 0.7]), -0.3
    np.testing.assert_allclose(
        expert_mean(mean, jnp.asarray(x), jnp.asarray(w), b), ref_activation(mean, x @ w + b), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        expert_mean(mean, jnp.asarray(x), jnp.asarray(w), None), ref_activation(mean, x @ w), rtol=1e-12, atol=1e-15
    )


def test_activations_are_the_documented_ones():
    assert set(ACTIVATIONS) == set(MEANS)


@pytest.mark.parametrize("gate", GATES)
def test_gate_log_weights_match_scipy(gate):
    spec = make_spec("gaussian", gate=gate)
    params = make_params(spec)
    x, _ = _random_xy()
    log_w, log_1mw = (np.asarray(v) for v in gate_log_weights(spec, _jparams(params), jnp.asarray(x)))
    w = np.full(len(x), 0.3) if gate == "constant" else special.expit(x @ params["beta"] + params["tau"])
    np.testing.assert_allclose(np.exp(log_w), w, rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_1mw), 1.0 - w, rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_scale_and_logpdf_use_the_variance_conventions(family):
    spec = make_spec(family, nu=0.8)
    f = spec.frozen
    expected_scale = {
        "gaussian": np.sqrt(0.8),
        "laplace": np.sqrt(0.8 / 2.0),
        "student_t": np.sqrt(0.8 * 3.0 / 5.0),
        "laplace_scale": 0.8,
    }[family]
    assert float(family_scale(f.family, f.nu, f.df, f.laplace_reading)) == pytest.approx(expected_scale, rel=1e-14)
    y = np.linspace(-4.0, 5.0, 37)
    mean = np.full_like(y, 0.6)
    got = np.asarray(family_logpdf(f.family, jnp.asarray(y), jnp.asarray(mean), f.nu, f.df, f.laplace_reading))
    np.testing.assert_allclose(got, ref_frozen_dist(spec, mean).logpdf(y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_sample_has_variance_nu(family):
    """Large-sample variance of the frozen draws is nu (2 nu^2 under the Laplace 'scale' reading)."""
    nu = 0.8
    spec = make_spec(family, nu=nu)
    f = spec.frozen
    mean = jnp.full((400_000,), 0.7)
    draws = np.asarray(family_sample(key(3), f.family, mean, f.nu, f.df, f.laplace_reading))
    expected = 2.0 * nu**2 if family == "laplace_scale" else nu
    assert draws.mean() == pytest.approx(0.7, abs=0.01)
    assert draws.var() == pytest.approx(expected, rel=0.03)
    # the whole distribution, not only the variance: KS p-values, uniform, above 1e-3 on most of 3 slices
    ks = [stats.kstest(draws[i : i + 20_000], ref_frozen_dist(spec, 0.7).cdf).pvalue for i in (0, 20_000, 40_000)]
    assert majority([p > 1e-3 for p in ks]), ks


# ----------------------------------------------------------------------------------------------
# numerical stability
# ----------------------------------------------------------------------------------------------


def _value_and_grad(spec, params, x, y):
    fun = lambda p: jnp.sum(log_likelihood(spec, p, jnp.asarray(x), jnp.asarray(y)))  # noqa: E731
    value, grad = jax.value_and_grad(fun)(_jparams(params))
    return float(value), {k: np.asarray(v) for k, v in grad.items()}


def _assert_finite_grad(grad):
    for name, g in grad.items():
        assert np.all(np.isfinite(g)), (name, g)


def _log_f0(spec, x, y):
    return ref_frozen_dist(spec, ref_frozen_mean(spec, x)).logpdf(y)


def _log_prompt(spec, params, x, y):
    return stats.norm.logpdf(y, ref_prompt_mean(spec, params, x), np.sqrt(float(params["nu"])))


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_lambda_gives_the_frozen_density(family):
    spec = make_spec(family)
    params = make_params(spec, lam=1e-300)
    x, y = _random_xy(n=16)
    value, grad = _value_and_grad(spec, params, x, y)
    pointwise = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
    assert value == pytest.approx(float(pointwise.sum()), rel=1e-12)
    log_f0 = _log_f0(spec, x, y)
    np.testing.assert_allclose(pointwise, log_f0, rtol=1e-13, atol=1e-13)
    _assert_finite_grad(grad)
    # d/dlam log((1 - lam) f0 + lam N) -> N / f0 - 1 as lam -> 0
    expected = np.sum(np.exp(_log_prompt(spec, params, x, y) - log_f0) - 1.0)
    assert grad["lam"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("family", FAMILIES)
def test_lambda_near_one_gives_the_prompt_density(family):
    spec = make_spec(family)
    params = make_params(spec, lam=1.0 - 1e-16)
    x, _ = _random_xy(n=16)
    y = ref_prompt_mean(spec, params, x) + 0.3  # where the prompt dominates
    value, grad = _value_and_grad(spec, params, x, y)
    pointwise = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
    assert value == pytest.approx(float(pointwise.sum()), rel=1e-12)
    np.testing.assert_allclose(pointwise, _log_prompt(spec, params, x, y), rtol=0, atol=1e-13)
    np.testing.assert_allclose(pointwise, ref_log_likelihood(spec, params, x, y), rtol=1e-12, atol=1e-12)
    _assert_finite_grad(grad)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_gradient_is_finite_at_boundary_lambda(lam):
    spec = make_spec("student_t")
    params = make_params(spec, lam=lam)
    x, y = _random_xy(n=8)
    value, grad = _value_and_grad(spec, params, x, y)
    assert np.isfinite(value)
    _assert_finite_grad(grad)


#: log f1 - log f0 beyond which d/dlam at lam = 0 (f1 / f0 - 1) exceeds float64 (likewise f0 / f1 at lam = 1)
OVERFLOW = np.log(np.finfo(float).max)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_gradient_at_the_boundary_is_never_nan_and_finite_but_where_stated(family, lam):
    """An extremes grid: observations from the bulk to far tails, a narrow and a wide prompt."""
    spec = make_spec(family)
    x = np.tile(_random_xy(n=6)[0], (63, 1))
    offsets = np.repeat(np.concatenate([-np.logspace(-2, 3, 31), [0.0], np.logspace(-2, 3, 31)]), 6)
    y = ref_frozen_mean(spec, x) + offsets
    for nu in (1e-3, 1.0, 1e3):
        params = make_params(spec, lam=lam, nu=nu)
        grads = jax.vmap(
            jax.grad(lambda p, xi, yi: log_likelihood(spec, p, xi[None], yi[None])[0]), in_axes=(None, 0, 0)
        )(_jparams(params), jnp.asarray(x), jnp.asarray(y))
        jp, jx, jy = _jparams(params), jnp.asarray(x), jnp.asarray(y)  # SciPy's Laplace tail underflows to -inf
        gap = np.asarray(prompt_log_density(spec, jp, jx, jy) - frozen_log_density(spec, jx, jy))
        beyond = gap > OVERFLOW if lam == 0.0 else -gap > OVERFLOW
        for name, g in grads.items():
            g = np.asarray(g).reshape(len(y), -1)
            assert not np.isnan(g).any(), (name, nu)
            finite = np.isfinite(g).all(axis=1)
            if name == "lam":
                np.testing.assert_array_equal(finite, ~beyond)
            else:
                assert finite.all(), (name, nu)


def _finite_and_exact(spec, params, x, y):
    """Pointwise log-likelihood: finite, equal to the SciPy reference, with a finite gradient."""
    value, grad = _value_and_grad(spec, params, x, y)
    pointwise = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
    assert value == pytest.approx(float(pointwise.sum()), rel=1e-12)
    assert np.all(np.isfinite(pointwise))
    np.testing.assert_allclose(pointwise, ref_log_likelihood(spec, params, x, y), rtol=1e-11, atol=1e-12)
    _assert_finite_grad(grad)
    return pointwise


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("nu", [1e-8, 1e8])
def test_extreme_prompt_variance(family, nu):
    spec = make_spec(family)
    params = make_params(spec, nu=nu)
    x, y = _random_xy(n=16)
    h = ref_prompt_mean(spec, params, x)
    y = np.concatenate([y, h, h + 1e-5])  # includes points on the spike of a narrow prompt
    x = np.concatenate([x, x, x])
    pointwise = _finite_and_exact(spec, params, x, y)
    if nu == 1e-8:
        # away from the spike the prompt is negligible: log(1 - lam) + log f0
        far = np.abs(y - np.concatenate([h, h, h])) > 0.1
        np.testing.assert_allclose(pointwise[far], np.log(0.7) + _log_f0(spec, x, y)[far], rtol=1e-13)
        # on the spike: p = lam / sqrt(2 pi nu) + (1 - lam) f0, dominated by the prompt's peak
        on = slice(16, 32)
        f0 = np.exp(_log_f0(spec, x, y)[on])
        peak = 0.3 / np.sqrt(2 * np.pi * nu)
        np.testing.assert_allclose(pointwise[on], np.log(peak + 0.7 * f0), rtol=1e-12, atol=1e-12)
        assert np.all(pointwise[on] >= np.log(peak))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("nu0", [1e-8, 1e8])
def test_extreme_frozen_variance(family, nu0):
    spec = make_spec(family, nu=nu0)
    params = make_params(spec)
    x, y = _random_xy(n=16)
    _finite_and_exact(spec, params, x, y)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_saturated_sigmoid_gate_at_large_x(family, sign):
    """|x| ~ 1e3: the gate logit beta.x + tau is about +-1300, so w(x) is 1 or 0 to double precision."""
    spec = make_spec(family, gate="sigmoid")
    params = make_params(spec)  # beta = (0.8, -0.5)
    rng = np.random.default_rng(seed(5))
    x = sign * np.array([1e3, -1e3]) + rng.normal(0.0, 5.0, (12, 2))
    logit = x @ params["beta"] + params["tau"]
    assert np.all(np.abs(logit) > 1000)
    if sign > 0:  # prompt weight 1: log N(y | h(x), nu)
        y = ref_prompt_mean(spec, params, x) + rng.normal(0.0, 0.5, 12)
        expected = _log_prompt(spec, params, x, y)
    else:  # prompt weight 0: log f0(y | h0(x), nu0)
        y = ref_frozen_mean(spec, x) + rng.normal(0.0, 1.0, 12)
        expected = _log_f0(spec, x, y)
    value, grad = _value_and_grad(spec, params, x, y)
    pointwise = np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))
    assert value == pytest.approx(float(pointwise.sum()), rel=1e-12)
    np.testing.assert_allclose(pointwise, expected, rtol=1e-13, atol=1e-13)
    _assert_finite_grad(grad)


def test_contaminated_moe_distribution_uses_the_log_likelihood():
    spec = make_spec("student_t", gate="sigmoid")
    params = _jparams(make_params(spec))
    x, y = _random_xy()
    d = ContaminatedMoE(spec, params, jnp.asarray(x))
    assert d.batch_shape == (len(x),)
    np.testing.assert_array_equal(
        d.log_prob(jnp.asarray(y)), log_likelihood(spec, params, jnp.asarray(x), jnp.asarray(y))
    )
    assert d.sample(key(0), (3,)).shape == (3, len(x))


def test_summed_observation_is_the_pointwise_one_also_in_row_blocks():
    """The sampler's factor (row blocks above BLOCKED_ABOVE rows) gives the pointwise site's density
    and gradient in the unconstrained coordinates NUTS moves in."""
    spec = make_spec("student_t", gate="sigmoid")
    params = _jparams(make_params(spec))
    n = BLOCKED_ABOVE + 1000  # 4 full blocks and a remainder
    x, y = (jnp.asarray(v) for v in _random_xy(n=n))
    args = (spec, x, y, frozen_log_density(spec, x, y))
    u = unconstrain(spec, params)

    def potential(summed: bool):
        return jax.jit(jax.value_and_grad(lambda u: potential_energy(model, args, {"summed": summed}, u)))

    (pointwise, grad), (summed, summed_grad) = potential(False)(u), potential(True)(u)
    assert float(summed) == pytest.approx(float(pointwise), rel=1e-12)
    for k in u:
        np.testing.assert_allclose(summed_grad[k], grad[k], rtol=1e-10, atol=1e-9)
    jaxpr = str(jax.make_jaxpr(lambda u: potential_energy(model, args, {"summed": True}, u))(u))
    assert "custom_jvp_call" in jaxpr and "scan" in jaxpr  # the blocks ran, not the whole-data sum


# ----------------------------------------------------------------------------------------------
# the fast log-space helpers and the precomputed frozen density
# ----------------------------------------------------------------------------------------------

EDGES = np.array([-np.inf, -1e300, -745.2, -40.0, -1.0, 0.0, 1e-300, 1.0, 40.0, 709.0, 1e300, np.inf])


def test_log_add_exp_and_log_sigmoid_equal_numpy_at_the_edges():
    a, b = (v.ravel() for v in np.meshgrid(EDGES, EDGES))
    ours = np.asarray(log_add_exp(jnp.asarray(a), jnp.asarray(b)))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(np.logaddexp(a, b)))  # NaN nowhere, also at inf and -inf
    np.testing.assert_allclose(ours, np.logaddexp(a, b), rtol=1e-15, atol=0)
    expected = -np.logaddexp(0.0, -EDGES)  # XLA flushes subnormals to 0: log_sigmoid(709) = -1e-308 becomes 0
    np.testing.assert_allclose(np.asarray(log_sigmoid(jnp.asarray(EDGES))), expected, rtol=1e-15, atol=1e-307)
    grad = jax.grad(lambda u, v: log_add_exp(u, v), argnums=(0, 1))
    assert [float(g) for g in grad(0.3, 0.3)] == [0.5, 0.5]  # a tie splits evenly
    np.testing.assert_allclose([float(g) for g in grad(2.0, -1.0)], special.softmax([2.0, -1.0]), rtol=1e-15)
    np.testing.assert_allclose(float(jax.grad(log_sigmoid)(0.7)), special.expit(-0.7), rtol=1e-15)


def test_precomputed_frozen_density_is_the_frozen_density():
    spec = make_spec("laplace", gate="sigmoid")
    params = _jparams(make_params(spec))
    x, y = (jnp.asarray(v) for v in _random_xy())
    log_f0 = frozen_log_density(spec, x, y)
    np.testing.assert_array_equal(log_likelihood(spec, params, x, y, log_f0), log_likelihood(spec, params, x, y))
    shifted = log_likelihood(spec, params, x, y, log_f0 + 1.0)  # the argument is used, not recomputed
    assert np.all(np.asarray(shifted) > np.asarray(log_likelihood(spec, params, x, y)))
