"""Classification: a frozen classifier p0 contaminated by a trainable adapter softmax(eta) (docs/classification.md),
checked against an independent NumPy/SciPy likelihood and MLE."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import key, ref_activation, seed
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.optimize import fit_mle
from bayescmoe.model.likelihood import class_log_probs, log_likelihood
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert, check_params, model_inputs

WEIGHTS = {
    2: ((0.0, 0.0), (1.5, -1.0)),
    3: ((0.0, 0.0), (1.5, -1.0), (-0.5, 1.2)),
}
BIASES = {2: (0.0, 0.3), 3: (0.0, 0.3, -0.2)}


def classifier(classes: int = 3, gate: str = "constant", given: str | None = None, mean: str = "linear") -> ModelSpec:
    """A categorical spec, d = 2: the frozen classifier parametric, or given per row (``"probabilities"`` or
    ``"logits"``)."""
    if given is None:
        frozen = FrozenExpert(family="categorical", weight=WEIGHTS[classes], bias=BIASES[classes])
    else:
        frozen = FrozenExpert(family="categorical", mean="given", dim=2, classes=classes, logits=given == "logits")
    return ModelSpec(frozen, PromptExpert(family="categorical", classes=classes, mean=mean), gate=gate)


def truth_of(spec: ModelSpec, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Adapter parameters away from the frozen classifier's, and a gate of weight about 0.4."""
    c = spec.classes
    a = scale * np.array([[-1.0, 2.0], [2.0, 0.5]])[: c - 1]
    gate = {"lam": np.array(0.4)} if spec.gate == "constant" else {"beta": np.array([1.0, -0.5]), "tau": np.array(-0.4)}
    return {**gate, "a": a, "b": scale * np.array([0.5, -1.0])[: c - 1]}


def ref_frozen_log_probs(spec: ModelSpec, inputs: np.ndarray) -> np.ndarray:
    """log p0 (n, C) from the spec's fields: a multinomial logistic classifier, or the given columns."""
    f, d = spec.frozen, spec.dim
    if f.mean == "given":
        given = inputs[:, d : d + f.classes]
        return special.log_softmax(given, axis=1) if f.logits else np.log(given / given.sum(axis=1, keepdims=True))
    logits = inputs[:, :d] @ np.array(f.weight).T + (0.0 if f.bias is None else np.array(f.bias))
    return special.log_softmax(logits, axis=1)


def ref_class_log_probs(spec: ModelSpec, params: dict, inputs: np.ndarray) -> np.ndarray:
    """log p(y = c | x) (n, C) of the contaminated classifier, written from the maths."""
    x = inputs[:, : spec.dim]
    eta = ref_activation(spec.prompt.mean, x @ np.asarray(params["a"]).T + np.asarray(params.get("b", 0.0)))
    adapter = special.log_softmax(np.column_stack([np.zeros(len(x)), eta]), axis=1)
    if spec.gate == "constant":
        log_w, log_w0 = np.log(params["lam"]), np.log1p(-params["lam"])
    else:
        z = x @ params["beta"] + params["tau"]
        log_w, log_w0 = -np.logaddexp(0, -z)[:, None], -np.logaddexp(0, z)[:, None]
    return special.logsumexp(np.stack([log_w0 + ref_frozen_log_probs(spec, inputs), log_w + adapter]), axis=0)


def ref_log_likelihood(spec: ModelSpec, params: dict, inputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    return ref_class_log_probs(spec, params, inputs)[np.arange(len(y)), y.astype(int)]


def given_probabilities(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return rng.dirichlet(np.ones(classes), size=n)


GIVEN = (None, "probabilities", "logits")
CASES = [(c, gate, given) for c in (2, 3) for gate in ("constant", "sigmoid") for given in GIVEN]


@pytest.mark.parametrize(("classes", "gate", "given"), CASES)
def test_log_likelihood_matches_an_independent_scipy_computation(classes, gate, given):
    spec = classifier(classes, gate, given, mean="tanh" if gate == "sigmoid" else "linear")
    rng = np.random.default_rng(seed(1))
    x = rng.normal(size=(40, 2))
    h0 = None if given is None else given_probabilities(rng, 40, classes)
    h0 = np.log(h0) + 0.7 if given == "logits" else h0  # logits: any shift per row is the same classifier
    inputs = model_inputs(spec, x, h0)
    y = rng.integers(0, classes, 40).astype(float)
    params = truth_of(spec)
    got = np.asarray(log_likelihood(spec, params, jnp.asarray(inputs), jnp.asarray(y)))
    np.testing.assert_allclose(got, ref_log_likelihood(spec, params, inputs, y), rtol=1e-12, atol=1e-12)
    probs = np.exp(np.asarray(class_log_probs(spec, params, jnp.asarray(inputs))))
    np.testing.assert_allclose(probs, np.exp(ref_class_log_probs(spec, params, inputs)), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 4),
    st.sampled_from(["constant", "sigmoid"]),
    st.floats(0.0, 1.0),
    st.floats(-30, 30),
    st.integers(0, 2**31 - 1),
)
def test_class_probabilities_sum_to_one_for_any_parameters(classes, gate, lam, scale, draw):
    frozen = FrozenExpert(family="categorical", weight=np.ones((classes, 2)) * np.arange(classes)[:, None])
    spec = ModelSpec(frozen, PromptExpert(family="categorical", classes=classes, mean="relu", bias=False), gate=gate)
    rng = np.random.default_rng(draw)
    params = {"a": scale * rng.normal(size=(classes - 1, 2))}
    params |= {"lam": np.array(lam)} if gate == "constant" else {"beta": scale * rng.normal(size=2), "tau": scale}
    x = jnp.asarray(rng.normal(size=(16, 2)) * 10)
    log_p = np.asarray(class_log_probs(spec, params, x))
    assert np.all(np.isfinite(log_p) | (log_p == -np.inf))
    np.testing.assert_allclose(np.exp(special.logsumexp(log_p, axis=1)), 1.0, rtol=1e-12)


def test_simulated_class_frequencies_follow_the_mixture():
    spec = classifier(3, "sigmoid")
    params = truth_of(spec)
    x, y = simulate(key(2), spec, params, 40_000)
    probs = np.exp(ref_class_log_probs(spec, params, np.asarray(x)))
    counts = np.bincount(np.asarray(y).astype(int), minlength=3)
    expected = probs.sum(axis=0)
    assert set(np.unique(np.asarray(y))) <= {0.0, 1.0, 2.0}
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_spec_shapes_round_trip_and_structure():
    spec = classifier(3)
    assert spec.param_names == ("lam", "a", "b") and spec.shape("a") == (2, 2) and spec.shape("b") == (2,)
    assert ModelSpec.from_config(spec.to_config()) == spec
    assert not spec.distinguishable and spec.mergeable() == (True,)
    assert classifier(3, mean="tanh").distinguishable and classifier(3, given="probabilities").distinguishable
    np.testing.assert_array_equal(spec.frozen.params()["a"], np.subtract(WEIGHTS[3][1:], WEIGHTS[3][0]))
    given = classifier(3, given="probabilities")
    assert given.width == 5 and "h0" in given.frozen.given


def test_the_frozen_classifier_in_the_adapter_parametrisation_is_p0():
    spec = classifier(3)
    x = jnp.asarray(np.random.default_rng(seed(3)).normal(size=(10, 2)))
    params = {"lam": np.array(1.0), **spec.frozen.params()}
    np.testing.assert_allclose(class_log_probs(spec, params, x), ref_frozen_log_probs(spec, np.asarray(x)), atol=1e-12)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: PromptExpert(family="categorical", classes=1), "prompt.classes"),
        (lambda: PromptExpert(family="categorical"), "prompt.classes"),
        (lambda: FrozenExpert(family="categorical", mean="given", dim=2, classes=1), "frozen.classes"),
        (lambda: FrozenExpert(family="categorical", weight=WEIGHTS[3], nu=1.0), "frozen.nu"),
        (lambda: FrozenExpert(family="categorical", weight=WEIGHTS[3], classes=2), "frozen.classes"),
        (lambda: FrozenExpert(family="categorical", weight=WEIGHTS[3], bias=(0.0, 1.0)), "frozen.bias"),
        (lambda: FrozenExpert(family="categorical", weight=WEIGHTS[3], mean="tanh"), "frozen.mean"),
        (lambda: FrozenExpert(classes=3), "frozen.classes"),
        (lambda: ModelSpec(FrozenExpert(), PromptExpert(family="categorical", classes=2)), "prompt.family"),
        (lambda: ModelSpec(FrozenExpert(family="categorical", weight=WEIGHTS[2]), PromptExpert()), "prompt.family"),
        (lambda: ModelSpec(classifier(2).frozen, classifier(3).prompt), "prompt.classes"),
        (lambda: ModelSpec(classifier(2).frozen, classifier(2).prompt, priors={"nu": "flat"}), "priors"),
        (lambda: check_params(classifier(2), {**truth_of(classifier(2)), "nu": 1.0}), "params"),
        (lambda: check_params(classifier(3), {"lam": 0.5, "a": np.zeros(2), "b": np.zeros(2)}), "params.a"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(build, field):
    with pytest.raises(BayescmoeError) as err:
        build()
    assert err.value.field == field


@pytest.mark.parametrize(
    ("y", "h0", "field"),
    [
        ([0.0, 3.0], None, "y"),
        ([0.0, 0.5], None, "y"),
        ([0.0, -1.0], None, "y"),
        ([0.0, 1.0], [[0.5, 0.3, 0.3], [0.2, 0.3, 0.5]], "h0"),
        ([0.0, 1.0], [[1.2, -0.2, 0.0], [0.2, 0.3, 0.5]], "h0"),
        ([0.0, 1.0], [[0.5, 0.5], [0.2, 0.8]], "h0"),
    ],
)
def test_bad_data_are_refused_naming_the_field(y, h0, field):
    spec = classifier(3, given=None if h0 is None else "probabilities")
    x = np.zeros((2, 2))
    with pytest.raises(BayescmoeError) as err:
        fit_mle(spec, model_inputs(spec, x, h0), np.array(y))
    assert err.value.field == field


def scipy_mle(spec: ModelSpec, inputs: np.ndarray, y: np.ndarray, start: dict) -> tuple[float, dict]:
    """The MLE by SciPy's L-BFGS-B on the NumPy log-likelihood (lam on its logit scale), from ``start``."""
    names = [n for n in spec.param_names]
    shapes = [np.shape(start[n]) for n in names]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(v):
        out, i = {}, 0
        for n, s, k in zip(names, shapes, sizes, strict=True):
            out[n] = v[i : i + k].reshape(s)
            i += k
        if "lam" in out:
            out["lam"] = special.expit(out["lam"])
        return out

    v0 = np.concatenate([np.ravel(special.logit(start[n]) if n == "lam" else start[n]) for n in names])
    res = optimize.minimize(lambda v: -ref_log_likelihood(spec, unpack(v), inputs, y).sum(), v0, method="L-BFGS-B")
    return -res.fun, unpack(res.x)


@pytest.mark.parametrize(("classes", "gate"), [(2, "constant"), (3, "constant"), (3, "sigmoid")])
def test_mle_matches_scipy_and_is_never_below_the_truth(classes, gate):
    spec = classifier(classes, gate)
    truth = truth_of(spec, scale=1.5)
    x, y = simulate(key(4), spec, truth, 1500)
    inputs, y = np.asarray(x), np.asarray(y)
    est = fit_mle(spec, inputs, y, key=seed(5), init=truth)
    ours = est.log_likelihood
    theirs, _ = scipy_mle(spec, inputs, y, truth)
    at_truth = ref_log_likelihood(spec, truth, inputs, y).sum()
    assert est.converged
    assert ours >= at_truth - 1e-9
    assert ours == pytest.approx(theirs, abs=1e-4) or ours > theirs
    assert ours == pytest.approx(ref_log_likelihood(spec, est.params, inputs, y).sum(), rel=1e-12)
