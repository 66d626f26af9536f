"""Classification: a frozen classifier p0 contaminated by a trainable adapter softmax(eta) (docs/classification.md),
checked against an independent NumPy/SciPy likelihood and MLE."""

from __future__ import annotations

from dataclasses import replace

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers import key, quiet_fit, ref_activation, seed
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree
from scipy import optimize, special

from bayescmoe.cli import main
from bayescmoe.diagnostics.collapse import collapse_report
from bayescmoe.diagnostics.fisher import fisher_information
from bayescmoe.diagnostics.signals import frozen_projection
from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.em import em_fit, prompt_m_step
from bayescmoe.inference.optimize import fit_map, fit_mle, lbfgs_solve
from bayescmoe.model.likelihood import class_log_probs, log_likelihood
from bayescmoe.model.params import by_label, flat_labels, unconstrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert, check_params, model_inputs
from bayescmoe.results.data import read_data
from bayescmoe.results.datatree import class_labels_of, data_of, load, save, spec_of
from bayescmoe.results.tables import fit_table
from bayescmoe.workflow.predicting import predict

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
    """log p(y = c | x) (n, C) of the contaminated classifier (K >= 1 adapters), written from the maths."""
    x, k = inputs[:, : spec.dim], spec.num_prompts
    a = np.asarray(params["a"]).reshape(k, spec.classes - 1, spec.dim)
    b = np.asarray(params.get("b", np.zeros((k, spec.classes - 1)))).reshape(k, spec.classes - 1)
    adapters = []
    for j, p in enumerate(spec.prompts):
        eta = ref_activation(p.mean, x @ a[j].T + b[j])
        adapters.append(special.log_softmax(np.column_stack([np.zeros(len(x)), eta]), axis=1))
    if spec.gate == "constant":
        lam = np.atleast_1d(params["lam"])
        log_w, log_w0 = np.log(lam)[:, None, None], np.log1p(-lam.sum())
    else:  # the softmax over (0, beta_k.x + tau_k): for one adapter, the sigmoid
        z = x @ np.asarray(params["beta"]).reshape(k, spec.dim).T + np.asarray(params["tau"]).reshape(k)
        norm = special.logsumexp(np.column_stack([np.zeros(len(x)), z]), axis=1)
        log_w, log_w0 = (z - norm[:, None]).T[:, :, None], -norm[:, None]
    terms = [log_w0 + ref_frozen_log_probs(spec, inputs), *(log_w + np.stack(adapters))]
    return special.logsumexp(np.stack(terms), axis=0)


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
    assert spec.param_names == ("a", "b", "lam") and spec.shape("a") == (2, 2) and spec.shape("b") == (2,)
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
    """The MLE by SciPy's L-BFGS-B on the NumPy log-likelihood from ``start``: lam by the logits of
    (w0, lam_1, ..., lam_K) with w0's fixed at 0."""
    names = list(spec.param_names)
    shapes = [np.shape(start[n]) for n in names]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(v):
        out, i = {}, 0
        for n, s, k in zip(names, shapes, sizes, strict=True):
            out[n] = v[i : i + k].reshape(s)
            i += k
        if "lam" in out:
            logits = np.atleast_1d(out["lam"])
            out["lam"] = special.softmax(np.concatenate([[0.0], logits]))[1:].reshape(shapes[names.index("lam")])
        return out

    def logits_of(lam):
        lam = np.atleast_1d(lam)
        return np.log(lam) - np.log1p(-lam.sum())

    v0 = np.concatenate([np.ravel(logits_of(start[n]) if n == "lam" else start[n]) for n in names])
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


LABELS = np.array(["cat", "dog", "emu"])


@pytest.fixture(scope="module")
def labelled_fit():
    """A short fit of a given frozen classifier (probabilities per row) to labelled y: C = 3, constant gate."""
    spec = classifier(3, "constant", given="probabilities")
    truth = truth_of(spec)
    p0 = np.random.default_rng(seed(6)).dirichlet(np.ones(3), 320)
    x, y = simulate(key(6), spec, truth, 320, h0=p0)
    x, y = np.asarray(x)[:, :2], LABELS[np.asarray(y).astype(int)]
    dt = quiet_fit(spec, x[:300], y[:300], h0=p0[:300], key=seed(7), num_warmup=100, num_samples=100, num_chains=2)
    return dt, spec, (x[300:], p0[300:], y[300:])


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
@pytest.mark.filterwarnings("ignore:Found chain dimension to be longer")  # ArviZ's rootogram, internally
def test_a_result_holds_discrete_y_classes_and_the_frozen_probabilities(labelled_fit, tmp_path):
    dt, spec, _ = labelled_fit
    assert class_labels_of(dt) == tuple(LABELS)
    assert dt["observed_data"]["y"].dtype.kind == "i" and dt["posterior_predictive"]["y"].dtype.kind == "i"
    assert set(np.unique(dt["posterior_predictive"]["y"].values)) <= {0, 1, 2}
    assert dt["posterior"]["a"].dims == ("chain", "draw", "class", "feature")
    assert list(dt["posterior"]["class"].values) == ["dog", "emu"]  # the reference class "cat" has eta = 0
    assert list(dt["constant_data"]["class"].values) == list(LABELS) and dt["constant_data"]["h0"].shape == (300, 3)
    assert "a[dog, 0]" in az.summary(dt).index
    elpd = az.loo(dt)
    assert np.isfinite(elpd.elpd) and elpd.n_data_points == 300
    az.plot_ppc_rootogram(dt)  # ArviZ's posterior predictive check of discrete data
    plt.close("all")
    back = load(save(dt, tmp_path / "c.nc"))
    assert spec_of(back) == spec and class_labels_of(back) == tuple(LABELS)
    inputs, y = data_of(back)
    np.testing.assert_array_equal(inputs[:, 2:], dt["constant_data"]["h0"].values)
    np.testing.assert_array_equal(y, dt["observed_data"]["y"].values)
    # the log-likelihood group is the model's log p(y | x) at each draw
    post = dt["posterior"]
    draw = {k: post[k].values[1, 7] for k in spec.param_names}
    np.testing.assert_allclose(
        dt["log_likelihood"]["y"].values[1, 7], ref_log_likelihood(spec, draw, inputs, y), rtol=1e-10
    )


@pytest.mark.parametrize("method", ["nuts", "map"])
def test_predicted_class_probabilities_are_the_draws_mixtures(labelled_fit, method):
    dt, spec, (x, p0, y) = labelled_fit
    out = predict(dt, x, h0=p0, y_new=y, method=method, ci_prob=0.9, key=seed(8))
    source = dt["posterior"] if method == "nuts" else dt["map"]
    lead = 2 if method == "nuts" else 0
    draws = {k: source[k].values.reshape(-1, *source[k].shape[lead:]) for k in spec.param_names}
    inputs = np.column_stack([x, p0])
    probs = np.stack(
        [np.exp(ref_class_log_probs(spec, {k: v[s] for k, v in draws.items()}, inputs)) for s in range(len(draws["a"]))]
    )
    np.testing.assert_allclose(out["probability"].values, probs.mean(axis=0), rtol=1e-10)
    lower, upper = np.quantile(probs, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(out["probability_lower"].values, lower, rtol=1e-10)
    np.testing.assert_allclose(out["probability_upper"].values, upper, rtol=1e-10)
    np.testing.assert_allclose(out["probability"].sum("class"), 1.0, rtol=1e-12)
    assert list(out["class"].values) == list(LABELS) and out["probability"].dims == ("obs", "class")
    np.testing.assert_allclose(out["h0"].values, p0 / p0.sum(axis=1, keepdims=True), rtol=1e-12)
    codes = np.searchsorted(LABELS, y)
    np.testing.assert_array_equal(out["y_observed"].values, codes)
    log_p = np.stack(
        [ref_log_likelihood(spec, {k: v[s] for k, v in draws.items()}, inputs, codes) for s in range(len(draws["a"]))]
    )
    lpd = special.logsumexp(log_p, axis=0) - np.log(len(log_p))
    np.testing.assert_allclose(out["log_predictive_density"].values, lpd, rtol=1e-10)
    assert np.all((out["responsibility"] >= 0) & (out["responsibility"] <= 1))
    assert out["gate"].dims == ("obs",)


def test_labels_outside_the_fitted_classes_are_refused(labelled_fit):
    dt, _, (x, p0, y) = labelled_fit
    with pytest.raises(BayescmoeError) as err:
        predict(dt, x, h0=p0, y_new=np.where(y == "emu", "fox", y), method="map")
    assert err.value.field == "y"


def test_string_labels_need_as_many_classes_or_their_names():
    spec = classifier(3)
    x, y = np.zeros((4, 2)), np.array(["a", "b", "a", "b"])
    with pytest.raises(BayescmoeError) as err:
        quiet_fit(spec, x, y, methods=["mle"])
    assert err.value.field == "y"
    with pytest.raises(BayescmoeError) as err:
        quiet_fit(spec, x, y, class_labels=["a", "b"], methods=["mle"])
    assert err.value.field == "class_labels"
    with pytest.raises(BayescmoeError) as err:  # a regression has no classes
        quiet_fit(ModelSpec(FrozenExpert()), np.zeros((4, 1)), np.zeros(4), class_labels=["a", "b"], methods=["mle"])
    assert err.value.field == "class_labels"


def test_the_collapse_report_finds_the_needed_adapter(labelled_fit):
    report = collapse_report(labelled_fit[0])
    checks = {c.name: c.value for c in report.checks}
    assert report.verdict not in ("prompt not needed", "prompt vanishing", "prompt merging")
    assert checks["evidence"] > 1 and checks["merge_probe"] > 0.9  # the data tell the adapter from p0


def test_the_adapter_closest_to_the_frozen_classifier():
    x = np.random.default_rng(seed(9)).normal(size=(200, 2))
    spec = classifier(3)
    closest = frozen_projection(spec, x)
    assert set(closest) == {"a", "b"}
    np.testing.assert_array_equal(closest["a"], spec.frozen.params()["a"])
    # a given classifier whose log-odds are linear in x: the least-squares adapter is that linear map
    given = classifier(3, given="logits")
    logits = x @ np.array(WEIGHTS[3]).T + np.array(BIASES[3])
    fitted = frozen_projection(given, model_inputs(given, x, logits))
    np.testing.assert_allclose(fitted["a"], spec.frozen.params()["a"], atol=1e-8)
    np.testing.assert_allclose(fitted["b"], spec.frozen.params()["b"], atol=1e-8)
    # given probabilities, some rows with a 0 (infinite log-odds): the fit uses the other rows
    probabilities = special.softmax(logits, axis=1)
    probabilities[:10] = [0.0, 0.4, 0.6]
    rounded = classifier(3, given="probabilities")
    fitted = frozen_projection(rounded, model_inputs(rounded, x, probabilities))
    np.testing.assert_allclose(fitted["a"], spec.frozen.params()["a"], atol=1e-8)


def _em_start(spec: ModelSpec, truth: dict) -> dict:
    """The truth moved by 0.3 in every adapter and gate coordinate (the weight to 0.25)."""
    start = {k: jnp.asarray(v) + 0.3 for k, v in truth.items()}
    return {**start, "lam": jnp.full(np.shape(truth["lam"]), 0.25)} if "lam" in truth else start


@pytest.mark.parametrize(
    ("classes", "gate", "mean"), [(2, "constant", "linear"), (3, "sigmoid", "linear"), (3, "constant", "tanh")]
)
def test_em_climbs_monotonely_to_a_maximum_the_mle_of_scipy_for_linear_adapters(classes, gate, mean):
    """EM's trace never decreases and it stops where L-BFGS, started there, gains nothing. A linear adapter's
    maximum near the truth is the one SciPy reaches from the truth; a tanh adapter's likelihood has several (its
    EM is a generalised EM, whose adapter step only climbs)."""
    spec = classifier(classes, gate, mean=mean).with_priors("flat")  # L-BFGS's objective is then the likelihood
    truth = truth_of(spec, scale=1.5)
    x, y = simulate(key(31), spec, truth, 1500)
    mask = jnp.ones(1500)
    em = em_fit(spec, _em_start(spec, truth), x, y, mask, 3000, 1e-12)
    trace = np.asarray(em.trace)[: int(em.n_iter) + 1]
    assert bool(em.converged) and np.all(np.isfinite(trace))
    assert np.all(np.diff(trace) >= -1e-12), np.diff(trace).min()
    assert trace[-1] > trace[0] + 1e-3
    polished = lbfgs_solve(unconstrain(spec, em.params), spec, x, y, mask, 2000, 1e-9)
    assert -float(polished.objective) - float(em.mean_loglik) < 1e-7
    inputs, labels = np.asarray(x), np.asarray(y)
    ours = 1500 * float(em.mean_loglik)
    assert ours == pytest.approx(ref_log_likelihood(spec, em.params, inputs, labels).sum(), rel=1e-12)
    if mean == "linear":
        theirs, _ = scipy_mle(spec, inputs, labels, truth)
        assert ours == pytest.approx(theirs, abs=1e-4) or ours > theirs


def test_the_adapter_m_step_is_scipys_weighted_multinomial_logistic_regression():
    """With arbitrary responsibilities r the adapter's step maximises sum r log softmax(0, a.x + b)_y, as SciPy's
    BFGS on the NumPy loss finds; the mask drops rows."""
    spec = classifier(3)
    truth = truth_of(spec)
    x, y = simulate(key(33), spec, truth, 800)
    r = jax.random.uniform(key(34), y.shape)
    mask = jnp.ones(800).at[:100].set(0.0)
    step = prompt_m_step(spec, {k: jnp.asarray(v) for k, v in truth.items()}, x, y, r, mask)
    xn, yn, wn = np.asarray(x)[100:], np.asarray(y)[100:].astype(int), np.asarray(r)[100:]

    def loss(v):
        logits = np.column_stack([np.zeros(len(xn)), xn @ v[:4].reshape(2, 2).T + v[4:]])
        return -np.sum(wn * special.log_softmax(logits, axis=1)[np.arange(len(yn)), yn])

    best = optimize.minimize(loss, np.zeros(6), method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(np.asarray(step["a"]), best.x[:4].reshape(2, 2), atol=1e-5)
    np.testing.assert_allclose(np.asarray(step["b"]), best.x[4:], atol=1e-5)
    assert "nu" not in step


@pytest.mark.slow
@pytest.mark.parametrize("k", range(3))
def test_nuts_recovers_the_truth_within_its_intervals(k):
    spec = classifier(3, "sigmoid")
    truth = truth_of(spec, scale=1.5)
    x, y = simulate(key(20 + k), spec, truth, 1500)
    dt = quiet_fit(spec, np.asarray(x), np.asarray(y), key=seed(30 + k), num_warmup=300, num_samples=300, num_chains=2)
    post = dt["posterior"]
    inside = []
    for name in spec.param_names:
        lower, upper = (post[name].quantile(q, dim=("chain", "draw")).values for q in (0.005, 0.995))
        inside.extend(np.ravel((lower <= truth[name]) & (truth[name] <= upper)))
    assert np.mean(inside) >= 0.8, inside
    # the table and az.summary label every scalar of a (class, feature) as the posterior holds it
    means = {k: post[k].mean(("chain", "draw")).values for k in spec.param_names}
    labelled = by_label(means, classes=post["class"].values)
    table = fit_table(dt)
    for label, value in labelled.items():
        assert table.loc[label, "post_mean"] == pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("classes", [2, 3])
def test_map_lies_within_three_standard_errors_of_the_truth(classes):
    spec = classifier(classes, "constant")
    truth = truth_of(spec, scale=1.5)
    x, y = simulate(key(40 + classes), spec, truth, 4000)
    est = fit_map(spec, x, y, key=seed(41), init=truth)
    assert est.converged and est.information_pd
    for name in spec.param_names:
        z = (est.params[name] - truth[name]) / est.se[name]
        assert np.all(np.abs(z) < 4), (name, z)


SPEC_TOML = """name = "classes"
[spec]
gate = "sigmoid"
[spec.frozen]
family = "categorical"
mean = "given"
dim = 2
classes = 3
[spec.prompt]
family = "categorical"
classes = 3
"""


def write_csv(path, x, p0, y, names=("p_setosa", "p_versicolor", "p_virginica")) -> None:
    rows = ["petal,sepal," + ",".join(names) + ",species"]
    rows += [",".join([*(f"{v:.6f}" for v in (*x[i], *p0[i])), str(y[i])]) for i in range(len(y))]
    path.write_text("\n".join(rows) + "\n")


def labelled_data(n: int, k: int):
    spec = classifier(3, "sigmoid", given="probabilities")
    p0 = np.random.default_rng(seed(k)).dirichlet(2 * np.ones(3), n)
    x, y = simulate(key(k), spec, truth_of(spec), n, h0=p0)
    return spec, np.asarray(x)[:, :2], p0, np.array(["setosa", "versicolor", "virginica"])[np.asarray(y).astype(int)]


def test_a_csv_keeps_the_labels_and_reads_the_frozen_probabilities_by_list_or_prefix(tmp_path):
    spec, x, p0, y = labelled_data(50, 10)
    write_csv(tmp_path / "a.csv", x, p0, y)
    columns = {"features": ["petal", "sepal"], "target": "species"}
    inputs, labels = read_data(tmp_path / "a.csv", spec, h0="p_setosa,p_versicolor,p_virginica", **columns)
    assert labels.dtype.kind == "U" and list(labels) == list(y)
    np.testing.assert_allclose(inputs.values[:, 2:], p0, atol=1e-6)
    assert list(inputs["column"].values) == ["petal", "sepal", "h0_0", "h0_1", "h0_2"]
    write_csv(tmp_path / "b.csv", x, p0, y, names=("p_0", "p_1", "p_2"))
    again, _ = read_data(tmp_path / "b.csv", spec, h0="p", **columns)
    np.testing.assert_array_equal(again.values, inputs.values)
    np.savez(tmp_path / "c.npz", x=x, y=np.searchsorted(["setosa", "versicolor", "virginica"], y), h0=p0)
    arrays, codes = read_data(tmp_path / "c.npz", spec)
    np.testing.assert_array_equal(arrays.values[:, 2:], p0)
    assert set(codes) <= {0.0, 1.0, 2.0}


def test_a_csv_whose_frozen_probabilities_do_not_sum_to_one_is_refused(tmp_path):
    spec, x, p0, y = labelled_data(20, 11)
    write_csv(tmp_path / "a.csv", x, p0 * 1.1, y, names=("h0_0", "h0_1", "h0_2"))
    with pytest.raises(BayescmoeError) as err:
        read_data(tmp_path / "a.csv", spec, features=["petal", "sepal"], target="species")
    assert err.value.field == "h0"
    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    argv = ["fit", "--config", str(tmp_path / "spec.toml"), "--data", str(tmp_path / "a.csv"), "--target", "species"]
    assert main([*argv, "--features", "petal,sepal", "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "classes.nc").exists()


@pytest.mark.slow
def test_the_command_fits_labelled_classes_and_predicts_their_probabilities(tmp_path, capsys):
    _, x, p0, y = labelled_data(400, 12)
    write_csv(tmp_path / "train.csv", x[:350], p0[:350], y[:350])
    write_csv(tmp_path / "new.csv", x[350:], p0[350:], y[350:])
    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    columns = ["--features", "petal,sepal", "--target", "species", "--h0", "p_setosa,p_versicolor,p_virginica"]
    run = ["--num-warmup", "100", "--num-samples", "100", "--num-chains", "2", "--no-plots", "--seed", str(seed(13))]
    out = tmp_path / "out"
    argv = ["fit", "--config", str(tmp_path / "spec.toml"), "--data", str(tmp_path / "train.csv"), *columns, *run]
    assert main([*argv, "--out", str(out)]) == 0
    assert "a[virginica, sepal]" in capsys.readouterr().out
    dt = load(out / "classes.nc")
    assert class_labels_of(dt) == ("setosa", "versicolor", "virginica")
    pred = tmp_path / "pred.csv"
    assert (
        main(["predict", str(out / "classes.nc"), "--data", str(tmp_path / "new.csv"), *columns, "--out", str(pred)])
        == 0
    )
    header = pred.read_text().splitlines()[0].split(",")
    assert {"probability_setosa", "probability_upper_virginica", "h0_versicolor", "gate"} <= set(header)
    table = np.genfromtxt(pred, delimiter=",", names=True)
    total = sum(table[f"probability_{c}"] for c in ("setosa", "versicolor", "virginica"))
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_the_score_has_mean_zero_at_the_truth_so_simulation_and_likelihood_agree():
    setting = get_setting("classify-heterogeneous")
    spec, truth = setting.spec, setting.truth.at(setting.spec, 1000)
    x, y = simulate(key(14), spec, truth, 20_000)
    flat, unravel = ravel_pytree({k: jnp.asarray(v) for k, v in truth.items()})
    scores = jax.vmap(
        jax.grad(lambda v, xi, yi: log_likelihood(spec, unravel(v), xi[None], yi[None])[0]), in_axes=(None, 0, 0)
    )(flat, x, y)
    z = np.asarray(scores.mean(axis=0) / (scores.std(axis=0) / np.sqrt(len(y))))
    assert np.all(np.abs(z) < 4.5), z
    info = fisher_information(spec, truth, key(15), 5000)
    assert info.labels == flat_labels(spec) and np.all(info.eigenvalues > 0)


def test_a_variance_floor_is_refused_for_a_categorical_adapter():
    spec = classifier(2)
    x, y = simulate(key(16), spec, truth_of(spec), 100)
    with pytest.raises(BayescmoeError) as err:
        fit_mle(spec, x, y, nu_floor=0.1)
    assert err.value.field == "nu_floor"


def test_a_plug_in_prediction_of_a_parametric_classifier_is_the_mixture_at_the_mle():
    spec = classifier(2, "sigmoid")
    x, y = simulate(key(17), spec, truth_of(spec), 400)
    dt = quiet_fit(spec, np.asarray(x), np.asarray(y), methods=["mle"], key=seed(18))
    assert class_labels_of(dt) is None and list(dt["mle"]["class"].values) == [1]
    new = np.random.default_rng(seed(19)).normal(size=(30, 2))
    out = predict(dt, new, method="mle", num_samples=50, key=seed(20))
    mle = {k: dt["mle"][k].values for k in spec.param_names}
    np.testing.assert_allclose(out["probability"].values, np.exp(ref_class_log_probs(spec, mle, new)), rtol=1e-10)
    np.testing.assert_array_equal(out["probability_lower"].values, out["probability"].values)  # one point
    np.testing.assert_allclose(out["h0"].values, np.exp(ref_frozen_log_probs(spec, new)), rtol=1e-12)
    assert list(out["class"].values) == [0, 1] and out["y"].shape == (1, 50, 30) and out["y"].dtype.kind == "i"


def two_adapters(gate: str) -> tuple[ModelSpec, dict]:
    """K = 2 adapters (linear and tanh, C = 3) beside the parametric p0, and a truth."""
    prompts = [
        PromptExpert("linear", family="categorical", classes=3),
        PromptExpert("tanh", family="categorical", classes=3),
    ]
    spec = ModelSpec(classifier(3).frozen, prompts, gate=gate)
    weights = (
        {"lam": np.array([0.3, 0.25])} if gate == "constant" else {"beta": np.eye(2), "tau": np.array([-0.5, 0.5])}
    )
    a = np.array([[[-1.0, 2.0], [2.0, 0.5]], [[1.0, -2.0], [0.0, 2.0]]])
    return spec, {**weights, "a": a, "b": np.array([[0.5, -1.0], [0.0, 1.0]])}


@pytest.mark.parametrize("gate", ["constant", "sigmoid"])
def test_two_adapters_match_scipy_sum_to_one_and_simulate_their_mixture(gate):
    spec, truth = two_adapters(gate)
    assert spec.param_names[:2] == ("a", "b") and spec.shape("a") == (2, 2, 2) and spec.shape("b") == (2, 2)
    x, y = simulate(key(21), spec, truth, 30_000)
    inputs, y = np.asarray(x), np.asarray(y)
    got = np.asarray(log_likelihood(spec, truth, jnp.asarray(inputs[:50]), jnp.asarray(y[:50])))
    np.testing.assert_allclose(got, ref_log_likelihood(spec, truth, inputs[:50], y[:50]), rtol=1e-12)
    probs = np.exp(ref_class_log_probs(spec, truth, inputs))
    np.testing.assert_allclose(np.exp(np.asarray(class_log_probs(spec, truth, x))), probs, rtol=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    counts, expected = np.bincount(y.astype(int), minlength=3), probs.sum(axis=0)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_the_mle_of_two_adapters_matches_scipy_and_lies_above_the_truth():
    spec, truth = two_adapters("constant")
    x, y = simulate(key(22), spec, truth, 2000)
    inputs, y = np.asarray(x), np.asarray(y)
    est = fit_mle(spec, inputs, y, key=seed(23), init=truth)
    theirs, _ = scipy_mle(spec, inputs, y, truth)
    # the tanh adapter's likelihood rises on into its flat tails at some seeds: such an end says so
    tails = np.abs(est.params["a"][1]).max() > 100
    assert est.converged != tails and est.stop_reason == ("saturated prompt" if tails else est.stop_reason)
    assert est.log_likelihood >= ref_log_likelihood(spec, truth, inputs, y).sum() - 1e-9
    assert est.log_likelihood == pytest.approx(theirs, abs=1e-3) or est.log_likelihood > theirs
    assert est.log_likelihood == pytest.approx(ref_log_likelihood(spec, est.params, inputs, y).sum(), rel=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_an_adapter_run_off_into_its_flat_tails_has_not_converged(scale):
    """tanh slopes of 1e4 leave the adapter's logits at +-1 on nearly every row (slope < 1e-8): its parameters no
    longer move the likelihood, so a small gradient there is no stationary point, and the stop says so."""
    from bayescmoe.inference.optimize import CONVERGED, stop_reason

    spec = classifier(3, mean="tanh")
    truth = {**truth_of(spec), "a": scale * truth_of(spec)["a"]}
    x, _ = simulate(key(37), spec, truth_of(spec), 500)
    mask = jnp.ones(500)
    reason = stop_reason(spec, {k: jnp.asarray(v) for k, v in truth.items()}, x, mask, 0, 0.0)
    assert (reason == "saturated prompt") == (scale > 1) and (reason in CONVERGED) == (scale == 1)


def test_two_adapters_fit_and_predict_with_labels_by_prompt_and_class():
    spec, truth = two_adapters("constant")
    x, y = simulate(key(24), spec, truth, 600)
    labels = np.array(["ant", "bee", "cat"])[np.asarray(y).astype(int)]
    dt = quiet_fit(spec, np.asarray(x), labels, methods=["map"], key=seed(25))
    assert dt["map"]["a"].dims == ("prompt", "class", "feature") and list(dt["map"]["class"].values) == ["bee", "cat"]
    assert "a[1, cat, 0]" in fit_table(dt).index
    new = np.random.default_rng(seed(26)).normal(size=(20, 2))
    out = predict(dt, new, method="map", num_samples=20, key=seed(27))
    point = {k: dt["map"][k].values for k in spec.param_names}
    np.testing.assert_allclose(out["probability"].values, np.exp(ref_class_log_probs(spec, point, new)), rtol=1e-10)
    assert out["gate"].dims == ("obs", "prompt")


@pytest.mark.slow
def test_em_of_two_adapters_climbs_to_a_maximum():
    """K = 2 linear adapters: EM's trace never decreases, and where it stops L-BFGS, started there, gains nothing
    (a mixture may have several maxima, so EM from one start is compared with L-BFGS from EM's end)."""
    _, truth = two_adapters("constant")
    spec = ModelSpec(classifier(3).frozen, [PromptExpert("linear", family="categorical", classes=3)] * 2)
    spec = spec.with_priors("flat")
    x, y = simulate(key(35), spec, truth, 2000)
    mask = jnp.ones(2000)
    em = em_fit(spec, _em_start(spec, truth), x, y, mask, 5000, 1e-12)
    trace = np.asarray(em.trace)[: int(em.n_iter) + 1]
    assert np.all(np.diff(trace) >= -1e-12), np.diff(trace).min()
    assert 2000 * float(em.mean_loglik) > ref_log_likelihood(spec, truth, np.asarray(x), np.asarray(y)).sum()
    if bool(em.converged):
        polished = lbfgs_solve(unconstrain(spec, em.params), spec, x, y, mask, 2000, 1e-9)
        assert -float(polished.objective) - float(em.mean_loglik) < 1e-6
    else:  # EM crawls along two overlapping adapters at some seeds: still climbing, by tiny steps, at the cap
        assert int(em.n_iter) == 5000 and 0 <= trace[-1] - trace[-2] < 1e-8


def test_two_adapters_are_ordered_by_tau_only():
    spec, _ = two_adapters("sigmoid")
    assert replace(spec, order="tau").order == "tau"
    with pytest.raises(BayescmoeError) as err:
        replace(spec, order="b")
    assert err.value.field == "order"


def test_the_adapter_start_finds_the_mode_random_starts_miss_behind_a_constant_gate():
    """On 600 shifted digits every random start's constant gate falls to lam -> 0, where the adapter's logits get no
    gradient (p0 alone); the data-driven start (the adapter fitted alone, weighing 0.9) reaches the adapter's mode."""
    from bayescmoe.inference.optimize import ADAPTER_WEIGHT, spread_starts
    from bayescmoe.model.params import constrain
    from bayescmoe.model.spec import model_inputs
    from bayescmoe.studies.classify_shift import adapter_spec, digits_shift, labelled_rows

    data = digits_shift(seed=0)
    rows = labelled_rows(data, 600, 0, 0)
    spec = adapter_spec(data, "constant")
    inputs, y = model_inputs(spec, data.x_target[rows], data.h0[rows]), jnp.asarray(data.y_target[rows], float)
    (start,) = spread_starts(spec, jnp.asarray(inputs), y)
    assert float(constrain(spec, start)["lam"]) == pytest.approx(ADAPTER_WEIGHT)
    est = fit_map(spec, inputs, y, key=key(0), num_random_starts=4)
    ends = est.start_objectives  # mean negative log posterior per row where each start ended: 4 random, the adapter's
    assert ends[4] <= ends.min() + 1e-9 and est.converged and float(est.params["lam"]) > 0.5
    assert np.max(ends[:4]) - ends[4] > 0.05, ends  # a random start trapped at lam -> 0
