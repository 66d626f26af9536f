"""K >= 2 prompts: the likelihood against the independent SciPy reference and quadrature, K = 1 unchanged,
the weights' derivatives at the simplex's boundary, the Dirichlet prior, the sub-simplex transform and the
ordering constraints, the unconstrained scale, the simulator, the NumPyro model, and the errors that name
their field.

    p(y | x) = w0(x) f0(y | h0(x), nu0) + sum_k w_k(x) g_k(y | h_k(x), nu_k)
"""

from __future__ import annotations

import functools
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from helpers import (
    FAMILY_CASES,
    flatten,
    key,
    make_params,
    make_spec,
    most_seeds,
    raises_field,
    ref_cdf,
    ref_frozen_dist_at,
    ref_frozen_logpdf,
    ref_log_gates,
    ref_log_likelihood,
    ref_log_prior,
    ref_param_log_prior,
    ref_prior_logpdf,
    ref_prompt_logpdfs,
    ref_prompt_means,
    seed,
)
from jax.flatten_util import ravel_pytree
from numpyro.distributions import constraints
from numpyro.infer.util import log_density, potential_energy
from scipy import integrate, stats

from bayescmoe.model.likelihood import (
    gate_log_weights,
    log_likelihood,
    prompt_log_density,
    prompt_mean,
)
from bayescmoe.model.numpyro_model import model
from bayescmoe.model.params import (
    BOUNDARY_NUDGE,
    bijection,
    by_label,
    constrain,
    flat_labels,
    log_posterior,
    prior_distributions,
    unconstrain,
)
from bayescmoe.model.priors import OnSupport, Prior, SubSimplexDirichlet, SubSimplexTransform, sub_simplex
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert, check_params, model_inputs
from bayescmoe.model.truth import Rate, Truth

# ----------------------------------------------------------------------------------------------
# specs and data
# ----------------------------------------------------------------------------------------------


def _frozen(family="student_t", mean="linear", weight=(1.0, -0.5), bias=0.0, nu=1.0):
    """A computed frozen expert of a :data:`helpers.FAMILY_CASES` family (student_t has df = 5)."""
    fam, df, reading = FAMILY_CASES[family]
    return FrozenExpert(fam, mean, weight, bias, nu, df, reading)


def _given(family="student_t", nu="given", dim=2):
    """A frozen expert given by its predictions h0 (and nu0 when ``nu="given"``)."""
    fam, df, reading = FAMILY_CASES[family]
    return FrozenExpert(fam, "given", nu=nu, df=df, laplace_reading=reading, dim=dim)


def _prompt(mean="linear", family="gaussian", bias=True):
    """A prompt of ``family`` (student_t has df = 4; nu is its variance)."""
    return PromptExpert(mean, bias, family, 4.0 if family == "student_t" else None)


#: the K >= 2 specs the likelihood is checked on: K = 2 and 3, both gates, the three prompt families, the
#: mean structures with and without bias, and frozen experts computed or given by their predictions
CASES = {
    "K2-constant": lambda: ModelSpec(_frozen("student_t"), [_prompt("linear"), _prompt("gelu", "laplace")]),
    "K3-constant": lambda: ModelSpec(
        _frozen("laplace", "tanh"), [_prompt("tanh", "student_t"), _prompt("linear"), _prompt("gelu", "laplace")]
    ),
    "K2-softmax": lambda: ModelSpec(
        _frozen("gaussian", "gelu"), [_prompt("tanh", "laplace"), _prompt("linear", "student_t")], gate="softmax"
    ),
    "K3-softmax-no-bias": lambda: ModelSpec(
        _frozen("laplace_scale", "tanh", weight=(1.0, 0.0, 0.0), bias=None, nu=0.5),
        [_prompt("tanh", bias=False), _prompt("linear", "laplace", bias=False), _prompt("gelu", "student_t", False)],
        gate="softmax",
    ),
    "K2-constant-given-h0": lambda: ModelSpec(
        _given("student_t", nu=0.8), [_prompt("gelu", "student_t"), _prompt("tanh", "laplace")], order="b"
    ),
    "K3-softmax-given-h0-nu0": lambda: ModelSpec(
        _given("laplace", dim=3),
        [_prompt("linear", "laplace"), _prompt("tanh"), _prompt("gelu", "student_t")],
        gate="softmax",
        priors={"nu": ["inversegamma", 2.0, 1.0]},
        order="tau",
    ),
}
#: one K >= 2 spec per kind of support the parameters can have
ORDERED = {
    "lam-and-b": lambda: ModelSpec(
        _frozen(),
        [_prompt("linear"), _prompt("tanh", "laplace")],
        order="b",
        priors={"lam": ["dirichlet", 2, 0.7, 1.5]},
    ),
    "softmax-tau": lambda: CASES["K3-softmax-given-h0-nu0"](),
    "flat-nu": lambda: ModelSpec(
        _frozen("gaussian"), [_prompt("gelu"), _prompt("linear", "student_t")], priors="flat", order="nu"
    ),
}


@functools.cache
def _spec(name: str) -> ModelSpec:
    return {**CASES, **ORDERED}[name]()


def _inputs(spec: ModelSpec, n: int = 64, k: int = 0) -> np.ndarray:
    """n rows of the model's inputs: features 1.5 N(0, I_d), then h0 = tanh(x1) + noise and nu0 in (0.3, 2.4)
    where the frozen expert takes them given."""
    rng = np.random.default_rng(seed(k))
    x = 1.5 * rng.standard_normal((n, spec.dim))
    if not spec.frozen.given:
        return x
    h0 = np.tanh(x[:, 0]) + 0.5 * rng.standard_normal(n)
    nu0 = rng.uniform(0.3, 2.4, n) if spec.frozen.nu == "given" else None
    return model_inputs(spec, x, h0, nu0)


def _data(spec: ModelSpec, n: int = 64, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = _inputs(spec, n, k)
    y = 2.0 * np.random.default_rng(seed(k + 100)).standard_normal(n)
    return x, y


def _jparams(params):
    return {k: jnp.asarray(v, dtype=float) for k, v in params.items()}


def _ll(spec, params, x, y) -> np.ndarray:
    return np.asarray(log_likelihood(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y)))


TIGHT = {"rtol": 1e-10, "atol": 1e-12}


# ----------------------------------------------------------------------------------------------
# 1. the likelihood against the SciPy reference, and quadrature
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_likelihood_matches_scipy(name):
    """Prompt means, prompt log-densities, gate log-weights and log p(y | x), each (n, K) or (n,), against the
    NumPy/SciPy reference written from the maths."""
    spec = _spec(name)
    params = make_params(spec)
    x, y = _data(spec)
    k = spec.num_prompts
    assert spec.num_prompts == int(name[1]) and params["nu"].shape == (k,)
    jp, jx, jy = _jparams(params), jnp.asarray(x), jnp.asarray(y)
    means, log_g = np.asarray(prompt_mean(spec, jp, jx)), np.asarray(prompt_log_density(spec, jp, jx, jy))
    log_w, log_w0 = (np.asarray(v) for v in gate_log_weights(spec, jp, jx))
    np.testing.assert_allclose(means, ref_prompt_means(spec, params, x), **TIGHT)
    np.testing.assert_allclose(log_g, ref_prompt_logpdfs(spec, params, x, y), **TIGHT)
    ref_w, ref_w0 = ref_log_gates(spec, params, x)
    assert log_w.shape == (len(y), k) and log_w0.shape == (len(y),)
    np.testing.assert_allclose(log_w, ref_w, **TIGHT)
    np.testing.assert_allclose(log_w0, ref_w0, **TIGHT)
    np.testing.assert_allclose(_ll(spec, params, x, y), ref_log_likelihood(spec, params, x, y), **TIGHT)


def test_reference_tells_the_prompts_apart():
    """Control: the prompts in the other order (each with the other's parameters) give another likelihood, and
    so does a given h0 column moved: the comparison above sees which prompt is which and reads h0."""
    spec = _spec("K2-constant")
    params = make_params(spec)
    x, y = _data(spec)
    swapped = ModelSpec(spec.frozen, spec.prompts[::-1])
    assert not np.allclose(_ll(swapped, params, x, y), ref_log_likelihood(spec, params, x, y), rtol=1e-3)
    spec = _spec("K2-constant-given-h0")
    params = make_params(spec)
    x, y = _data(spec)
    moved = x.copy()
    moved[:, spec.dim] += 0.5
    assert not np.allclose(_ll(spec, params, moved, y), ref_log_likelihood(spec, params, x, y), rtol=1e-3)


def test_softmax_gate_is_stable_at_extreme_logits():
    """Logits of several hundred (weights far below the smallest double) keep log p finite and exact."""
    spec = _spec("K2-softmax")
    params = make_params(spec)
    params = {**params, "beta": 400.0 * params["beta"], "tau": np.array([-300.0, 500.0])}
    x, y = _data(spec)
    got = _ll(spec, params, x, y)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref_log_likelihood(spec, params, x, y), **TIGHT)


@functools.cache
def _density(spec: ModelSpec):
    """A compiled y -> p(y | x) for one row x and fixed parameters."""

    @jax.jit
    def density(params, x, y):
        return jnp.exp(log_likelihood(spec, params, x, jnp.reshape(y, (1,))))[0]

    return density


@pytest.mark.parametrize("name", ["K3-constant", "K3-softmax-no-bias", "K3-softmax-given-h0-nu0"])
def test_density_integrates_to_one_with_the_mixture_mean(name):
    """At two x: the integral of p(y | x) over y is 1 and that of y p(y | x) is w0 h0 + sum_k w_k h_k (the
    weights and means of the reference: which weight goes with which expert), by quadrature split at the
    experts' means (the Laplace kinks)."""
    spec = _spec(name)
    params = make_params(spec)
    jp = _jparams(params)
    density = _density(spec)
    for row in _inputs(spec, n=2, k=3):
        xr = row[None, :]
        means = np.concatenate([ref_frozen_dist_at(spec, xr).mean(), ref_prompt_means(spec, params, xr)[0]])
        log_w, log_w0 = ref_log_gates(spec, params, xr)
        expected_mean = float(np.exp(np.concatenate([log_w0, log_w[0]])) @ means)
        cuts = [-np.inf, *sorted(means), np.inf]
        f = lambda y: float(density(jp, jnp.asarray(xr), y))  # noqa: B023, E731
        total = first = 0.0
        for lo, hi in itertools.pairwise(cuts):
            total += integrate.quad(f, lo, hi, epsabs=1e-12, epsrel=1e-10, limit=200)[0]
            first += integrate.quad(lambda y: y * f(y), lo, hi, epsabs=1e-12, epsrel=1e-10, limit=200)[0]  # noqa: B023
        assert total == pytest.approx(1.0, abs=1e-6), (name, row)
        assert first == pytest.approx(expected_mean, abs=1e-6), (name, row)


# ----------------------------------------------------------------------------------------------
# 2. one prompt is the papers' model; configs
# ----------------------------------------------------------------------------------------------


def test_a_list_of_one_prompt_is_that_prompt():
    p = _prompt("tanh", "laplace")
    one = ModelSpec(_frozen(), p, gate="sigmoid")
    for listed in (ModelSpec(_frozen(), [p], gate="sigmoid"), ModelSpec(_frozen(), (p,), gate="sigmoid")):
        assert listed == one and hash(listed) == hash(one)
        assert listed.prompt == p and listed.prompts == (p,) and listed.num_prompts == 1
        assert listed.formula() == one.formula() and listed.to_config() == one.to_config()
    assert isinstance(one.to_config()["prompt"], dict) and "order" not in one.to_config()
    assert one.param_names == ("beta", "tau", "a", "b", "nu")
    assert [one.shape(n) for n in one.param_names] == [(2,), (), (2,), (), ()]
    assert one.support("tau") == "real" and ModelSpec(_frozen(), [p]).support("lam") == "unit"
    assert flat_labels(one) == ("a[0]", "a[1]", "b", "beta[0]", "beta[1]", "nu", "tau")
    assert ModelSpec.from_config({**one.to_config(), "prompt": [one.to_config()["prompt"]]}) == one
    params = make_params(one)
    x, y = _data(one)
    np.testing.assert_array_equal(_ll(ModelSpec(_frozen(), [p], gate="sigmoid"), params, x, y), _ll(one, params, x, y))


#: a config of one prompt as written before K >= 2 prompts existed, and its form as written now
OLD_K1_CONFIG = {
    "gate": "sigmoid",
    "frozen": {"family": "laplace", "mean": "tanh", "weight": [1.0, 0.0], "nu": 0.01, "laplace_reading": "scale"},
    "prompt": {"mean": "tanh", "bias": False},
    "priors": {"beta": ["normal", 0.0, 3.0], "a": ["normal", 0.0, 2.0], "nu": ["inversegamma", 2.0, 0.01]},
}
OLD_K1_WRITTEN = {
    "gate": "sigmoid",
    "frozen": {"family": "laplace", "mean": "tanh", "weight": [1.0, 0.0], "nu": 0.01, "laplace_reading": "scale"},
    "prompt": {"mean": "tanh", "bias": False, "family": "gaussian"},
    "priors": {
        "a": ["normal", 0.0, 2.0],
        "beta": ["normal", 0.0, 3.0],
        "nu": ["inversegamma", 2.0, 0.01],
        "tau": ["normal", 0.0, 3.0],
    },
}


def test_an_old_config_of_one_prompt_reads_back_unchanged():
    spec = ModelSpec.from_config(OLD_K1_CONFIG)
    assert spec == ModelSpec(
        FrozenExpert("laplace", "tanh", (1.0, 0.0), nu=0.01, laplace_reading="scale"),
        PromptExpert("tanh", bias=False),
        "sigmoid",
        {"beta": ["normal", 0.0, 3.0], "a": ["normal", 0.0, 2.0], "nu": ["inversegamma", 2.0, 0.01]},
    )
    assert spec.num_prompts == 1 and spec.order is None and spec.shape("beta") == (2,)
    assert spec.to_config() == OLD_K1_WRITTEN
    assert ModelSpec.from_config(json.loads(json.dumps(spec.to_config()))) == spec


def test_config_round_trip_with_several_prompts_and_order():
    spec = ModelSpec(
        _frozen("laplace", "gelu"),
        [_prompt("linear", "student_t"), _prompt("gelu", "laplace"), _prompt("tanh")],
        gate="softmax",
        priors={"tau": ["normal", 0.0, 2.0], "nu": ["lognormal", 0.0, 1.0]},
        order="tau",
    )
    config = spec.to_config()
    assert config["gate"] == "sigmoid" and config["order"] == "tau"
    assert config["prompt"] == [
        {"mean": "linear", "bias": True, "family": "student_t", "df": 4.0},
        {"mean": "gelu", "bias": True, "family": "laplace"},
        {"mean": "tanh", "bias": True, "family": "gaussian"},
    ]
    back = ModelSpec.from_config(json.loads(json.dumps(config)))
    assert back == spec and back.order == "tau" and back.num_prompts == 3 and back.support("tau") == "ordered"
    assert ModelSpec.from_config({**config, "gate": "softmax"}) == spec


def test_toml_prompt_tables(tmp_path):
    """A config file lists K prompts as [[spec.prompt]] tables."""
    path = tmp_path / "k3.toml"
    path.write_text(
        '[spec]\norder = "b"\n[spec.frozen]\nfamily = "gaussian"\nweight = [1.0, -0.5]\nbias = 0.0\n'
        '[[spec.prompt]]\nmean = "linear"\n'
        '[[spec.prompt]]\nmean = "tanh"\nfamily = "student_t"\ndf = 4.0\n'
        '[[spec.prompt]]\nmean = "gelu"\nfamily = "laplace"\n'
        '[spec.priors]\nlam = ["dirichlet", 3.0, 1.0, 1.0, 2.0]\n'
    )
    spec = ModelSpec.from_file(path)
    assert spec == ModelSpec(
        FrozenExpert("gaussian", weight=(1.0, -0.5), bias=0.0),
        [_prompt("linear"), _prompt("tanh", "student_t"), _prompt("gelu", "laplace")],
        priors={"lam": ["dirichlet", 3.0, 1.0, 1.0, 2.0]},
        order="b",
    )
    assert spec.support("lam") == "simplex" and spec.support("b") == "ordered" and spec.shape("a") == (3, 2)
    assert ModelSpec.from_config(spec.to_config()) == spec


def test_with_prompts():
    base = make_spec("student_t", priors={"lam": ["beta", 2.0, 5.0], "nu": ["lognormal", 0.0, 1.0]})
    two = base.with_prompts(2)
    assert two.prompts == (base.prompt, base.prompt) and two.order is None
    assert [two.shape(n) for n in two.param_names] == [(2,), (2, 2), (2,), (2,)]
    assert two.prior("lam") == Prior("dirichlet", (1.0,)) and two.prior("nu") == base.prior("nu")
    assert base.with_prompts(1) == base
    # a symmetric Dirichlet fits any K and is kept: on one weight it is Beta(1, 1), the default's law
    one = two.with_prompts(1)
    assert one == base.with_priors({"nu": ["lognormal", 0.0, 1.0], "lam": ["dirichlet", 1.0]})
    law = one.prior("lam").distribution("unit", ())
    assert (float(law.concentration1), float(law.concentration0)) == (1.0, 1.0)
    ordered = ModelSpec(base.frozen, [base.prompt] * 2, order="nu")
    assert ordered.with_prompts(3).order == "nu" and ordered.with_prompts(1).order is None


def test_labels_follow_the_flattened_vector():
    spec = _spec("K2-softmax")
    params = make_params(spec)
    labels = flat_labels(spec)
    assert labels[:6] == ("a[0, 0]", "a[0, 1]", "a[1, 0]", "a[1, 1]", "b[0]", "b[1]")
    flat = np.asarray(ravel_pytree(_jparams(params))[0])
    np.testing.assert_array_equal(flat, flatten(spec, params))
    labelled = by_label(params)
    assert sorted(labelled) == sorted(labels)
    np.testing.assert_array_equal([labelled[label] for label in labels], flat)
    assert labelled["beta[1, 0]"] == params["beta"][1, 0]


# ----------------------------------------------------------------------------------------------
# 3. derivatives: the weights at the boundary, finite differences, the softmax gate
# ----------------------------------------------------------------------------------------------


def _grad(spec, params, x, y):
    g = jax.grad(lambda p: jnp.sum(log_likelihood(spec, p, jnp.asarray(x), jnp.asarray(y))))(_jparams(params))
    return {k: np.asarray(v) for k, v in g.items()}


@functools.partial(jax.jit, static_argnums=0)
def _lam_hessian(spec, params, x, y):
    """The Hessian in lam of the summed log-likelihood (compiled: eager, its many primitives compile one by one)."""
    return jax.hessian(lambda v: jnp.sum(log_likelihood(spec, {**params, "lam": v}, x, y)))(params["lam"])


def _ref_lam_terms(spec, params, x, y):
    """r_ik = d/dlam_k log p(y_i | x_i) = (g_k - f0)(y_i) / p(y_i | x_i), shape (n, K), by the reference."""
    log_p = ref_log_likelihood(spec, params, x, y)
    log_f0, log_g = ref_frozen_logpdf(spec, x, y), ref_prompt_logpdfs(spec, params, x, y)
    return np.exp(log_g - log_p[:, None]) - np.exp(log_f0 - log_p)[:, None]


@pytest.mark.parametrize(
    ("name", "lam"),
    [
        ("K2-constant", (0.0, 0.4)),
        ("K2-constant", (0.0, 0.0)),
        ("K2-constant", (0.3, 0.7)),  # w0 = 0
        ("K2-constant", (0.0, 1.0)),
        ("K2-constant", (0.25, 0.35)),
        ("K3-constant", (0.0, 0.2, 0.0)),
        ("K2-constant-given-h0", (0.6, 0.0)),
    ],
)
def test_weight_gradient_is_the_closed_form_also_at_the_boundary(name, lam):
    """The gradient in lam is sum_i r_i, r_ik = (g_k - f0)(y_i) / p(y_i | x_i), finite at lam_k = 0 and at w0 = 0,
    and the Hessian in lam is -sum_i r_i r_i^T; a prompt of weight 0 has responsibility 0, so the gradient in its
    own parameters is exactly 0."""
    spec = _spec(name)
    params = make_params(spec, lam=np.asarray(lam))
    x, y = _data(spec, k=4)
    grad = _grad(spec, params, x, y)
    for g in grad.values():
        assert np.all(np.isfinite(g))
    r = _ref_lam_terms(spec, params, x, y)
    np.testing.assert_allclose(grad["lam"], r.sum(axis=0), rtol=1e-10, atol=1e-12)
    hessian = _lam_hessian(spec, _jparams(params), jnp.asarray(x), jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(hessian), -r.T @ r, rtol=1e-10, atol=1e-12)
    for k in np.flatnonzero(np.asarray(lam) == 0.0):
        for other in ("a", "b", "nu"):
            assert np.all(grad[other][k] == 0.0), (other, k)
    assert np.all(np.isfinite(_ll(spec, params, x, y)))


def _fd_gradient(fun, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = step
        out[i] = (fun(theta + e) - fun(theta - e)) / (2 * step)
    return out


@pytest.mark.parametrize("name", ["K2-constant", "K3-softmax-no-bias", "K3-softmax-given-h0-nu0"])
def test_gradient_matches_finite_differences_of_the_reference(name):
    """In the interior, the package's gradient in every parameter is the central difference of the SciPy
    reference's log-likelihood."""
    spec = _spec(name)
    params = make_params(spec)
    x, y = _data(spec, k=5)
    _, unravel = ravel_pytree(_jparams(params))
    theta = flatten(spec, params)

    def ref(vector):
        return float(np.sum(ref_log_likelihood(spec, {k: np.asarray(v) for k, v in unravel(vector).items()}, x, y)))

    got = np.asarray(ravel_pytree({k: jnp.asarray(v) for k, v in _grad(spec, params, x, y).items()})[0])
    np.testing.assert_allclose(got, _fd_gradient(ref, theta), rtol=1e-6, atol=1e-6)


def test_softmax_weights_are_the_softmax_of_zero_and_the_logits():
    spec = _spec("K2-softmax")
    params = make_params(spec)
    x, _ = _data(spec)
    log_w, log_w0 = (np.asarray(v) for v in gate_log_weights(spec, _jparams(params), jnp.asarray(x)))
    logits = x @ params["beta"].T + params["tau"]
    e = np.exp(np.column_stack([np.zeros(len(x)), logits]))
    softmax = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.exp(log_w0), softmax[:, 0], rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_w), softmax[:, 1:], rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_w0) + np.exp(log_w).sum(axis=1), 1.0, rtol=1e-13)
    # with one prompt it is the sigmoid gate: softmax(0, z)[1] = sigmoid(z)
    one = ModelSpec(spec.frozen, spec.prompts[0], gate="sigmoid")
    first = {name: params[name][0] for name in one.param_names}
    log_w1, log_w01 = (np.asarray(v) for v in gate_log_weights(one, _jparams(first), jnp.asarray(x)))
    pair = np.exp(np.column_stack([np.zeros(len(x)), logits[:, 0]]))
    np.testing.assert_allclose(np.exp(log_w1), pair[:, 1] / pair.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_w01), pair[:, 0] / pair.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("gate", ["constant", "softmax"])
def test_a_prompt_without_weight_leaves_the_model_of_the_others(gate):
    """lam_2 = 0 (constant gate) or a logit of -800 (softmax): the K = 2 likelihood is the K = 1 model's with
    prompt 1 and its parameters."""
    spec = _spec("K2-constant" if gate == "constant" else "K2-softmax")
    params = make_params(spec)
    if gate == "constant":
        params["lam"] = np.array([0.3, 0.0])
    else:
        params["beta"][1], params["tau"][1] = 0.0, -800.0
    one = ModelSpec(spec.frozen, spec.prompts[0], gate=spec.gate)
    first = {name: params[name][0] for name in one.param_names}
    x, y = _data(spec, k=6)
    np.testing.assert_allclose(_ll(spec, params, x, y), _ll(one, first, x, y), rtol=1e-13, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# 4. priors: the Dirichlet, the sub-simplex transform, ordered vectors, flat priors
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "k"), [((1.0,), 2), ((0.5,), 3), ((2.0, 0.7, 1.5), 2), ((0.5, 1.0, 2.0, 3.0), 3)])
def test_dirichlet_prior_matches_scipy(args, k):
    """The prior of lam is Dirichlet(alpha) of (w0, lam_1, ..., lam_K), w0 = 1 - sum lam first."""
    prior = Prior("dirichlet", args)
    d = prior.distribution("simplex", (k,))
    assert isinstance(d, SubSimplexDirichlet) and d.event_shape == (k,) and d.support is sub_simplex
    points = np.random.default_rng(seed(7)).dirichlet(np.ones(k + 1), size=6)  # (w0, lam)
    alpha = np.broadcast_to(np.asarray(args), (k + 1,))
    expected = [stats.dirichlet.logpdf(p, alpha) for p in points]
    np.testing.assert_allclose(np.asarray(d.log_prob(jnp.asarray(points[:, 1:]))), expected, rtol=1e-12)
    np.testing.assert_allclose([ref_prior_logpdf(prior, p[1:]) for p in points], expected, rtol=1e-12)
    if len(set(alpha)) > 1:  # control: w0 last instead of first is another density
        w0_last = [stats.dirichlet.logpdf(np.roll(p, -1), alpha) for p in points]
        assert not np.allclose(np.asarray(d.log_prob(jnp.asarray(points[:, 1:]))), w0_last, rtol=1e-3)


@pytest.mark.parametrize("args", [(2.0,), (3.0, 0.5)])
def test_dirichlet_prior_on_one_weight_is_beta(args):
    spec = make_spec("gaussian", priors={"lam": ["dirichlet", *args]})
    a0, a1 = np.broadcast_to(np.asarray(args), (2,))
    lam = np.linspace(0.01, 0.99, 9)
    got = np.asarray(prior_distributions(spec)["lam"].log_prob(jnp.asarray(lam)))
    np.testing.assert_allclose(got, stats.beta(a1, a0).logpdf(lam), rtol=1e-12)
    np.testing.assert_allclose(got, [stats.dirichlet.logpdf([1 - v, v], [a0, a1]) for v in lam], rtol=1e-12)


@pytest.mark.parametrize("k", [2, 4])
def test_sub_simplex_transform(k):
    """R^K onto {lam > 0, sum lam < 1} and back; log|det J| is that of the numerical Jacobian."""
    t = SubSimplexTransform()
    spec = ModelSpec(_frozen(), [_prompt()] * k)
    assert bijection(spec, "lam") == t and spec.support("lam") == "simplex"
    rng = np.random.default_rng(seed(8))
    x = jnp.asarray(1.5 * rng.standard_normal((4, k)))
    inside = jnp.asarray(rng.dirichlet(np.ones(k + 1), size=4)[:, 1:])

    @jax.jit
    def run(x, inside):
        lam = t(x)
        jacobians = jax.vmap(jax.jacfwd(t))(x)  # (4, K, K)
        return lam, t.inv(lam), t(t.inv(inside)), t.log_abs_det_jacobian(x, lam), sub_simplex(lam), jacobians

    lam, back, inside_back, ladj, ok, jacobians = (np.asarray(v) for v in run(x, inside))
    assert lam.shape == (4, k) and np.all(ok)
    assert np.all(lam > 0) and np.all(np.sum(lam, -1) < 1)
    np.testing.assert_allclose(back, np.asarray(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(inside_back, np.asarray(inside), rtol=1e-10, atol=1e-14)
    sign, logdet = np.linalg.slogdet(jacobians)
    assert ladj.shape == (4,) and np.all(sign != 0)
    np.testing.assert_allclose(ladj, logdet, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [(1.0, 1.0, 1.0), (3.0, 0.5, 1.5, 2.0)])
def test_dirichlet_prior_draws_have_its_means(alpha):
    """Each weight's mean (w0's too) is alpha_k / sum(alpha) within 5 Monte Carlo standard errors."""
    n = 20_000
    draws = np.asarray(SubSimplexDirichlet(jnp.asarray(alpha)).sample(key(31), (n,)))
    assert draws.shape == (n, len(alpha) - 1) and bool(jnp.all(sub_simplex(jnp.asarray(draws))))
    a = np.asarray(alpha)
    total = a.sum()
    mean, var = a / total, a * (total - a) / (total**2 * (total + 1))
    weights = np.column_stack([1 - draws.sum(axis=1), draws])
    assert np.all(np.abs(weights.mean(axis=0) - mean) < 5 * np.sqrt(var / n)), (weights.mean(axis=0), mean)


@pytest.mark.parametrize(("order", "prior", "iid"), [
    ("b", ["normal", 1.0, 2.0], stats.norm(1.0, 2.0)),
    ("nu", ["inversegamma", 2.0, 0.5], stats.invgamma(2.0, scale=0.5)),
])  # fmt: skip
def test_ordered_prior(order, prior, iid):
    """An iid prior restricted to the ordered cone: its density there is that of the sorted iid draws, K! times
    the iid one, and its draws are ordered with the order statistics' laws (smallest: 1 - (1 - F)^K, largest:
    F^K; KS p-values above 1e-3 at a majority of 3 seeds)."""
    spec = ModelSpec(_frozen(), [_prompt("linear"), _prompt("tanh"), _prompt("gelu")], order=order,
                     priors={order: prior})  # fmt: skip
    d = prior_distributions(spec)[order]
    assert isinstance(d, OnSupport) and d.event_shape == (3,)
    expected_support = constraints.ordered_vector if order == "b" else constraints.positive_ordered_vector
    assert d.support is expected_support and spec.support(order) == ("ordered" if order == "b" else "positive_ordered")
    value = np.array([0.2, 0.9, 1.7])
    expected = np.log(6.0) + float(np.sum(iid.logpdf(value)))  # 3! times the iid density
    assert float(d.log_prob(jnp.asarray(value))) == pytest.approx(expected, rel=1e-12)
    assert float(d.log_prob(jnp.asarray(value))) == pytest.approx(ref_param_log_prior(spec, order, value), rel=1e-12)

    def order_statistics(k: int) -> bool:
        draws = np.asarray(d.sample(key(k), (4000,)))
        assert draws.shape == (4000, 3) and np.all(np.diff(draws, axis=1) > 0)
        assert order == "b" or np.all(draws > 0)
        low = stats.kstest(draws[:, 0], lambda t: 1 - iid.sf(t) ** 3).pvalue
        high = stats.kstest(draws[:, -1], lambda t: iid.cdf(t) ** 3).pvalue
        return low > 1e-3 and high > 1e-3

    most_seeds(order_statistics, 33)


def test_ordered_prior_is_normalised_on_its_cone():
    """The ordered prior is a proper density on {b_1 < b_2}: its integral there, by a midpoint rule on a grid
    (cells on the diagonal counted half), is 1, as the density of the sorted iid draws it samples must be."""
    spec = ModelSpec(_frozen(), [_prompt(), _prompt("tanh")], order="b", priors={"b": ["normal", 1.0, 2.0]})
    h = 0.025
    grid = np.arange(1.0 - 12.0, 1.0 + 12.0, h) + h / 2
    b0, b1 = (v.ravel() for v in np.meshgrid(grid, grid, indexing="ij"))
    density = np.exp(np.asarray(prior_distributions(spec)["b"].log_prob(jnp.column_stack([b0, b1]))))
    weight = np.where(b0 < b1, 1.0, np.where(b0 == b1, 0.5, 0.0))
    assert float(np.sum(weight * density) * h**2) == pytest.approx(1.0, abs=1e-4)


def test_flat_prior_on_the_simplex():
    spec = ModelSpec(_frozen(), [_prompt(), _prompt("tanh")], priors={"lam": "flat"})
    d = prior_distributions(spec)["lam"]
    assert isinstance(d, dist.ImproperUniform) and d.event_shape == (2,) and spec.prior("lam") == Prior("flat")
    assert float(d.log_prob(jnp.array([0.3, 0.3]))) == 0.0
    inside = [bool(d.support(jnp.asarray(v))) for v in ([0.3, 0.3], [0.6, 0.6], [-0.1, 0.3], [0.0, 0.5])]
    assert inside == [True, False, False, False]
    flat = ModelSpec(_frozen(), [_prompt(), _prompt("tanh")], priors="flat", order="nu")
    params = make_params(flat)
    x, y = _data(flat)
    assert float(log_posterior(flat, _jparams(params), jnp.asarray(x), jnp.asarray(y))) == pytest.approx(
        float(np.sum(ref_log_likelihood(flat, params, x, y))), rel=1e-12
    )


# ----------------------------------------------------------------------------------------------
# 5. the unconstrained scale
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ORDERED)
def test_unconstrain_and_constrain_are_inverse(name):
    spec = _spec(name)
    params = make_params(spec)
    u = unconstrain(spec, params)
    for k in spec.param_names:
        assert u[k].shape == spec.shape(k) and bool(jnp.all(jnp.isfinite(u[k])))
    for k, v in constrain(spec, u).items():
        np.testing.assert_allclose(np.asarray(v), params[k], rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(seed(9))
    u = {k: jnp.asarray(rng.standard_normal(spec.shape(k))) for k in spec.param_names}
    theta = check_params(spec, constrain(spec, u))  # on the supports: simplex, ordered, positive
    for k, v in unconstrain(spec, theta).items():
        np.testing.assert_allclose(np.asarray(v), np.asarray(u[k]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("lam", [(0.0, 0.3), (0.0, 0.0), (0.4, 0.6), (0.0, 1.0), (1.0, 0.0), (0.5, 0.5)])
def test_unconstrain_at_the_simplex_boundary(lam):
    """Weights at 0 or summing to 1 move at most a few BOUNDARY_NUDGE inside and have finite coordinates; the
    other rows of a batch of draws are untouched."""
    spec = _spec("K2-constant")
    draws = np.array([[0.2, 0.3], lam, [0.1, 0.05]])
    u = np.asarray(unconstrain(spec, {"lam": draws})["lam"])
    assert u.shape == (3, 2) and np.all(np.isfinite(u))
    back = np.asarray(constrain(spec, {"lam": jnp.asarray(u)})["lam"])
    np.testing.assert_allclose(back[[0, 2]], draws[[0, 2]], rtol=1e-12)
    assert np.all(back[1] >= 0.5 * BOUNDARY_NUDGE) and 1 - back[1].sum() >= 0.5 * BOUNDARY_NUDGE
    assert np.max(np.abs(back[1] - draws[1])) <= 2.5 * BOUNDARY_NUDGE
    params = make_params(spec, lam=back[1])
    x, y = _data(spec)
    assert np.all(np.isfinite(_ll(spec, params, x, y)))


# ----------------------------------------------------------------------------------------------
# 6. the simulator
# ----------------------------------------------------------------------------------------------

N_GOF = 20_000


def _simulate(spec, params, n, k):
    h0 = (lambda x: jnp.tanh(x[:, 0])) if spec.frozen.given else None  # given: h0 a function of x, nu0 fixed
    x, y = simulate(key(k), spec, _jparams(params), n, h0=h0)
    return np.asarray(x), np.asarray(y)


@pytest.mark.parametrize("name", ["K2-constant", "K3-softmax-no-bias", "K2-constant-given-h0"])
def test_pit_of_simulated_y_is_uniform(name):
    """The probability integral transform under the reference's mixture CDF w0 F0 + sum_k w_k G_k is U(0, 1) (with
    a given h0 too): the KS p-value above 1e-3 at a majority of 3 seeds."""
    spec = _spec(name)
    params = make_params(spec)

    def uniform(k: int) -> bool:
        x, y = _simulate(spec, params, N_GOF, k)
        return stats.kstest(ref_cdf(spec, params, x, y), "uniform").pvalue > 1e-3

    most_seeds(uniform, 41)


def test_pit_test_has_power_against_swapped_weights():
    """Control: the same test rejects when the two prompts' weights are exchanged."""
    spec = _spec("K2-constant")
    params = make_params(spec)
    x, y = _simulate(spec, params, N_GOF, 41)
    swapped = {**params, "lam": params["lam"][::-1]}
    assert stats.kstest(ref_cdf(spec, swapped, x, y), "uniform").pvalue < 1e-3


@pytest.mark.parametrize("gate", ["constant", "softmax"])
def test_share_of_each_expert_matches_its_weight(gate):
    """Three narrow prompts far from f0 and from each other: the share of rows near b_k is E w_k(x), within 4.5
    binomial standard errors (sum_i w_k(x_i) (1 - w_k(x_i)))^(1/2) / n; the rest are f0's."""
    spec = ModelSpec(_frozen("gaussian"), [_prompt()] * 3, gate=gate)
    params = make_params(spec, a=np.zeros((3, 2)), b=np.array([-60.0, 40.0, 80.0]), nu=np.full(3, 1e-6))
    x, y = _simulate(spec, params, N_GOF, 43)
    log_w, log_w0 = ref_log_gates(spec, params, x)
    w = np.column_stack([np.exp(log_w0), np.exp(log_w)])
    near = np.column_stack([np.abs(y - b) < 0.01 for b in params["b"]])
    counts = np.column_stack([~near.any(axis=1), near])
    assert np.all(counts.sum(axis=1) == 1)
    se = np.sqrt(np.sum(w * (1 - w), axis=0)) / N_GOF
    assert np.all(np.abs(counts.mean(axis=0) - w.mean(axis=0)) < 4.5 * se), (counts.mean(axis=0), w.mean(axis=0))


# ----------------------------------------------------------------------------------------------
# 7. the NumPyro model
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ORDERED)
def test_numpyro_model_density(name):
    """NumPyro's log density of the model at a K >= 2 point is the package's log posterior and the reference's
    (log-likelihood plus SciPy log prior: Dirichlet, K! times iid on the ordered cone, flat); its potential on the
    unconstrained scale adds log|det| of the numerical Jacobian of :func:`constrain`."""
    spec = _spec(name)
    params = make_params(spec)
    x, y = _data(spec, k=10)
    jp, jx, jy = _jparams(params), jnp.asarray(x), jnp.asarray(y)
    value = float(log_density(model, (spec, jx, jy), {}, jp)[0])
    posterior = float(log_posterior(spec, jp, jx, jy))
    reference = float(np.sum(ref_log_likelihood(spec, params, x, y))) + ref_log_prior(spec, params)
    assert value == pytest.approx(posterior, rel=1e-12)
    assert posterior == pytest.approx(reference, rel=1e-10)
    u = unconstrain(spec, params)
    flat, unravel = ravel_pytree(u)
    jac = jax.jacfwd(lambda v: ravel_pytree(constrain(spec, unravel(v)))[0])(flat)
    sign, logdet = np.linalg.slogdet(np.asarray(jac))
    assert sign != 0
    energy = float(potential_energy(model, (spec, jx, jy), {}, u))
    assert energy == pytest.approx(-(reference + logdet), rel=1e-10)


def test_prior_distributions_agree_with_scipy():
    spec = _spec("lam-and-b")
    params = make_params(spec)
    priors = prior_distributions(spec)
    assert isinstance(priors["lam"], SubSimplexDirichlet) and isinstance(priors["b"], OnSupport)
    for name in spec.param_names:
        got = float(jnp.sum(priors[name].log_prob(jnp.asarray(params[name]))))
        assert got == pytest.approx(ref_param_log_prior(spec, name, params[name]), rel=1e-12), name
    w0, lam = 1 - params["lam"].sum(), params["lam"]
    expected = stats.dirichlet.logpdf([w0, *lam], [2.0, 0.7, 1.5])
    assert float(priors["lam"].log_prob(jnp.asarray(lam))) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# 8. errors name the field
# ----------------------------------------------------------------------------------------------


def test_malformed_prompt_lists():
    raises_field("prompt", ModelSpec, _frozen(), [])
    raises_field("prompt", ModelSpec.from_config, {"frozen": {}, "prompt": []})
    err = raises_field("prompt[1].bias", ModelSpec, _frozen(), [_prompt(), _prompt(bias=False)])
    assert "prompt[0].bias = True" in str(err)
    raises_field("prompt[2].bias", ModelSpec, _frozen(), [_prompt(bias=False)] * 2 + [_prompt()])
    raises_field("prompt[1]", ModelSpec, _frozen(), [_prompt(), "tanh"])
    raises_field("prompt[1]", ModelSpec.from_config, {"frozen": {}, "prompt": [{"mean": "tanh"}, {"means": "tanh"}]})
    raises_field("prompt[0]", ModelSpec.from_config, {"frozen": {}, "prompt": ["tanh", {"mean": "tanh"}]})
    raises_field("prompts", _spec("K2-constant").with_prompts, 0)


def test_order_errors():
    two = [_prompt(), _prompt("tanh")]
    err = raises_field("order", ModelSpec, _frozen(), _prompt(), order="b")
    assert "K >= 2" in str(err)
    raises_field("order", ModelSpec, _frozen(), [_prompt()], order="nu")
    for name in ("bias", "lam", "a", "beta"):  # unknown, or not orderable
        raises_field("order", ModelSpec, _frozen(), two, gate="softmax", order=name)
    raises_field("order", ModelSpec, _frozen(), two, order="tau")  # the constant gate has no tau
    raises_field("order", ModelSpec, _frozen(), [_prompt(bias=False)] * 2, order="b")
    raises_field("order", ModelSpec.from_config, {"frozen": {}, "prompt": [{}, {}], "order": "a"})


def test_weights_off_the_simplex():
    spec = _spec("lam-and-b")
    good = make_params(spec)
    check_params(spec, {**good, "lam": np.array([0.0, 1.0])})  # the closed simplex is allowed
    for lam in ([0.6, 0.5], [-0.1, 0.3], [1.2, 0.0]):
        err = raises_field("params.lam", check_params, spec, {**good, "lam": np.array(lam)})
        assert "sum <= 1" in str(err)
        raises_field("truth.lam", Truth({**good, "lam": np.array(lam)}).at, spec, 100)
    # a rate that pushes the sum past 1 at this n
    raises_field(
        "truth.lam", Truth({**good, "lam": np.array([0.4, 0.5])}, {"lam": Rate([2.0, 2.0], 0.5)}).at, spec, 100
    )


def test_ordered_values_must_increase():
    spec = _spec("lam-and-b")
    good = make_params(spec)
    assert set(Truth(good).at(spec, 100)) == set(spec.param_names)
    for b in ([1.0, -1.0], [0.5, 0.5]):
        err = raises_field("truth.b", Truth({**good, "b": np.array(b)}).at, spec, 100)
        assert "increase" in str(err) and "'b'" in str(err)
        raises_field("params.b", check_params, spec, {**good, "b": np.array(b)})
    flat = _spec("flat-nu")
    raises_field("truth.nu", Truth({**make_params(flat), "nu": np.array([0.5, 0.3])}).at, flat, 100)
    raises_field("truth.nu", Truth({**make_params(flat), "nu": np.array([-0.5, 0.3])}).at, flat, 100)
    softmax = _spec("K3-softmax-given-h0-nu0")
    raises_field("params.tau", check_params, softmax, {**make_params(softmax), "tau": np.array([0.0, 1.0, 0.5])})


def test_weight_prior_errors():
    prompts = [_prompt(), _prompt("tanh")]
    for args in ([1.0, 2.0], [1.0, 2.0, 3.0, 4.0], []):
        err = raises_field("priors.lam", ModelSpec, _frozen(), prompts, priors={"lam": ["dirichlet", *args]})
        assert "dirichlet" in str(err)
    raises_field("priors.lam", ModelSpec, _frozen(), prompts, priors={"lam": ["dirichlet", 1.0, 0.0, 1.0]})
    raises_field("priors.lam", ModelSpec, _frozen(), _prompt(), priors={"lam": ["dirichlet", 1.0, 2.0, 3.0]})
    err = raises_field("priors.lam", ModelSpec, _frozen(), prompts, priors={"lam": ["beta", 1.0, 1.0]})
    assert "'dirichlet' or 'flat'" in str(err)
    raises_field("priors.nu", ModelSpec, _frozen(), prompts, priors={"nu": ["dirichlet", 1.0]})
    raises_field("priors.b", ModelSpec, _frozen(), prompts, order="b", priors={"b": ["inversegamma", 2.0, 1.0]})


def test_wrong_shapes_mention_k():
    spec = _spec("K2-softmax")
    good = make_params(spec)
    for name, bad in (("a", good["a"][0]), ("beta", good["beta"].T[:1]), ("tau", 0.2), ("nu", np.ones(3))):
        err = raises_field(f"params.{name}", check_params, spec, {**good, name: bad})
        assert "K = 2 prompts" in str(err), str(err)
    err = raises_field("params.a", check_params, spec, {**good, "a": np.ones((2, 3))})
    assert "K = 2 prompts; d = 2" in str(err)
    constant = _spec("K3-constant")
    err = raises_field("truth.lam", Truth({**make_params(constant), "lam": 0.3}).at, constant, 100)
    assert "K = 3 prompts" in str(err)
