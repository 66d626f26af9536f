"""Bad specs, parameters and data raise BayescmoeError naming the offending field; specs are values."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import numpyro
import pytest
from helpers import FAMILY_CASES, PROMPT_FAMILY_CASES, key, make_params, make_spec, raises_field, seed

from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_map, fit_mle
from bayescmoe.model.numpyro_model import model
from bayescmoe.model.priors import Prior, default_prior
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert, check_data, check_params
from bayescmoe.model.truth import Rate, Truth
from bayescmoe.workflow import fitting


@pytest.fixture(scope="module")
def spec():
    return make_spec("student_t")  # d = 2, constant gate, linear experts


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(seed(0))
    return rng.standard_normal((20, 2)), rng.standard_normal(20)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_y(spec, data, bad):
    x, y = data
    y = y.copy()
    y[3] = bad
    raises_field("y", check_data, spec, x, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_x(spec, data, bad):
    x, y = data
    x = x.copy()
    x[5, 1] = bad
    raises_field("x", check_data, spec, x, y)


def test_x_shapes(spec, data):
    x, y = data
    raises_field("x", check_data, spec, x[:, 0], y)  # 1-D
    raises_field("x", check_data, spec, np.ones((20, 3)), y)  # wrong d
    raises_field("x", check_data, spec, x[None], y)  # 3-D


def test_y_shapes(spec, data):
    x, y = data
    raises_field("y", check_data, spec, x, y[:, None])  # 2-D
    raises_field("y", check_data, spec, x, y[:-1])  # wrong length
    raises_field("y", check_data, spec, x[:0], y[:0])  # empty


def test_check_data_returns_float_arrays(spec, data):
    x, y = data
    xs, ys = check_data(spec, x.tolist(), y.tolist())
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
    assert xs.dtype == ys.dtype == np.float64


def test_fitters_validate_data_first(spec, data):
    x, y = data
    bad = y.copy()
    bad[0] = np.nan
    raises_field("y", fit_mle, spec, x, bad)
    raises_field("y", fit_map, spec, x, bad)
    raises_field("x", fit_nuts, spec, x[:, :1], y)
    raises_field("num_chains", fit_nuts, spec, x, y, num_chains=0)
    raises_field("num_samples", fit_nuts, spec, x, y, num_samples=1.5)
    raises_field("chain_method", fit_nuts, spec, x, y, chain_method="sequential")
    raises_field(
        "log_f0", numpyro.handlers.seed(model, seed(0)), spec, x, None, np.zeros(len(x))
    )  # a frozen density, no y
    raises_field("init", fit_map, spec, x, y, num_random_starts=0)
    raises_field("init.nu", fit_map, spec, x, y, init=make_params(spec, nu=-1.0))


@pytest.mark.parametrize(
    ("field", "options"),
    [
        ("methods", {"methods": ("mle", "vi")}),
        ("methods", {"methods": ("mle", "mle")}),
        ("nuts_init", {"methods": ("nuts",)}),
        ("nuts_init", {"nuts_init": "zero"}),
        ("evidence", {"evidence": "bic"}),
        ("num_warmup", {"num_warmup": -1}),
        ("num_chains", {"num_chains": 0}),
        ("pointwise_thin", {"pointwise_thin": 0}),
    ],
)
def test_fit_options_are_refused_before_any_work(field, options, monkeypatch):
    """fit and run_setting refuse a bad option before they simulate, read or fit anything."""

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    for name in ("simulate", "unpack", "fit_mle", "fit_map", "fit_nuts"):
        monkeypatch.setattr(fitting, name, no_work)
    raises_field(field, fitting.fit, make_spec("gaussian"), np.zeros((5, 2)), np.zeros(5), **options)
    raises_field(field, fitting.run_setting, get_setting("p1-family"), n=100, **options)
    with pytest.raises(TypeError, match="num_chain"):
        fitting.run_setting(get_setting("p1-family"), num_chain=2)


def test_a_fit_beyond_memory_is_refused_before_any_work(monkeypatch):
    """run_setting refuses n whose data and pointwise draws would not fit in memory, before simulating."""

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the memory was checked")

    monkeypatch.setattr(fitting, "simulate", no_work)
    err = raises_field("n", fitting.run_setting, get_setting("p1-family"), n=2_000_000_000)
    assert "GB" in str(err)


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------


def test_check_params_accepts_good_values(spec):
    params = check_params(spec, {"lam": 0, "a": [1, 2], "b": 0.5, "nu": 1})
    assert set(params) == {"lam", "a", "b", "nu"}
    assert params["a"].shape == (2,) and params["lam"].shape == ()
    check_params(spec, make_params(spec, lam=1.0))


@pytest.mark.parametrize("lam", [-1e-12, -0.5, 1.0 + 1e-12, 2.0])
def test_lam_outside_unit_interval(spec, lam):
    raises_field("params.lam", check_params, spec, make_params(spec, lam=lam))


@pytest.mark.parametrize("nu", [0.0, -1e-300, -2.0])
def test_nonpositive_nu(spec, nu):
    raises_field("params.nu", check_params, spec, make_params(spec, nu=nu))


def test_bad_params(spec):
    good = make_params(spec)
    raises_field("params", check_params, spec, {k: v for k, v in good.items() if k != "b"})  # missing
    raises_field("params", check_params, spec, {**good, "tau": 0.0})  # extra
    raises_field("params.a", check_params, spec, {**good, "a": np.ones(3)})  # wrong shape
    raises_field("params.b", check_params, spec, {**good, "b": np.ones(2)})
    raises_field("params.a", check_params, spec, {**good, "a": np.array([1.0, np.nan])})
    raises_field("params.b", check_params, spec, {**good, "b": np.inf})
    raises_field("params.b", check_params, spec, {**good, "b": "one"})
    raises_field("params", check_params, spec, [1, 2, 3])
    raises_field("init.lam", check_params, spec, {**good, "lam": 3.0}, "init")


def test_sigmoid_gate_params():
    spec = make_spec("laplace", gate="sigmoid")
    good = make_params(spec)
    assert set(check_params(spec, good)) == {"beta", "tau", "a", "b", "nu"}
    raises_field("params", check_params, spec, {**good, "lam": 0.3})
    raises_field("params.beta", check_params, spec, {**good, "beta": np.ones(3)})
    raises_field("params.tau", check_params, spec, {**good, "tau": np.nan})


def test_truth_nonpositive_nu(spec):
    raises_field("truth.nu", Truth(make_params(spec, nu=0.0)).at, spec, 100)
    # a rate that drives nu negative at this n
    truth = Truth(make_params(spec, nu=0.1), {"nu": Rate(-10.0, 0.5)})
    raises_field("truth.nu", truth.at, spec, 100)
    raises_field("truth.lam", Truth(make_params(spec, lam=1.5)).at, spec, 100)


def test_truth_bad_inputs(spec):
    truth = Truth(make_params(spec), {"tau": Rate(1.0, 0.5)})
    raises_field("truth.rates", truth.at, spec, 100)
    raises_field("n", Truth(make_params(spec)).at, spec, 0)
    raises_field("n", Truth(make_params(spec)).at, spec, 10.0)
    raises_field("truth", Truth.from_config, [1, 2])
    raises_field("truth.rates", Truth.from_config, {"lam": 0.3, "rates": 5})
    raises_field("truth.rates.lam", Truth.from_config, {"lam": 0.3, "rates": {"lam": {"coef": 1.0}}})


def test_simulate_bad_n(spec):
    params = make_params(spec)
    raises_field("n", simulate, key(0), spec, params, 0)
    raises_field("n", simulate, key(0), spec, params, 10.5)


# ----------------------------------------------------------------------------------------------
# frozen and prompt experts, families, gates
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nu", [0.0, -1.0, math.nan, math.inf, "abc"])
def test_frozen_nu(nu):
    raises_field("frozen.nu", FrozenExpert, nu=nu)


def test_unknown_mean_functions():
    raises_field("frozen.mean", FrozenExpert, mean="softplus")
    raises_field("prompt.mean", PromptExpert, mean="quadratic")
    raises_field("frozen.mean", ModelSpec.from_config, {"frozen": {"mean": "swish"}})
    raises_field("prompt.mean", ModelSpec.from_config, {"frozen": {}, "prompt": {"mean": "swish"}})


def test_families():
    raises_field("frozen.family", FrozenExpert, family="cauchy")
    raises_field("frozen.df", FrozenExpert, family="student_t")  # no df
    for df in (2.0, 1.0, 0.0, -3.0, math.nan):
        raises_field("frozen.df", FrozenExpert, family="student_t", df=df)
    raises_field("frozen.df", FrozenExpert, family="gaussian", df=5.0)  # df only for student_t
    raises_field("frozen.laplace_reading", FrozenExpert, family="laplace", laplace_reading="std")
    assert FrozenExpert(family="student_t", df=2.5).df == 2.5


def test_frozen_weight_and_bias():
    raises_field("frozen.weight", FrozenExpert, weight=())
    raises_field("frozen.weight", FrozenExpert, weight=(1.0, math.nan))
    raises_field("frozen.weight", FrozenExpert, weight=[[1.0, 2.0]])
    raises_field("frozen.bias", FrozenExpert, bias=math.inf)
    raises_field("frozen.bias", FrozenExpert, bias="zero")
    assert FrozenExpert(weight=3).weight == (3.0,)


def test_unknown_gate():
    raises_field("gate", ModelSpec, FrozenExpert(), gate="top-k")
    raises_field("gate", ModelSpec.from_config, {"frozen": {}, "gate": "top1"})


def test_prompt_families():
    raises_field("prompt.family", PromptExpert, family="cauchy")
    raises_field("prompt.family", PromptExpert, family=["laplace"])
    raises_field("prompt.df", PromptExpert, family="student_t")  # no df
    for df in (2.0, 1.0, -3.0, math.nan, math.inf, True, "five"):
        raises_field("prompt.df", PromptExpert, family="student_t", df=df)
    raises_field("prompt.df", PromptExpert, family="laplace", df=5.0)  # df only for student_t
    raises_field("prompt.df", ModelSpec.from_config, {"frozen": {}, "prompt": {"family": "student_t", "df": "five"}})
    assert PromptExpert(family="student_t", df=3).df == 3.0 and isinstance(
        PromptExpert(family="student_t", df=3).df, float
    )
    assert PromptExpert() == PromptExpert("linear", True, "gaussian", None)


def test_prompt_bias_must_be_bool():
    raises_field("prompt.bias", PromptExpert, bias=1)
    raises_field("prompt.bias", PromptExpert, bias="yes")


# ----------------------------------------------------------------------------------------------
# priors
# ----------------------------------------------------------------------------------------------


def test_unknown_prior_family():
    raises_field("priors.lam", ModelSpec, FrozenExpert(), priors={"lam": "uniform"})
    raises_field("priors.a", ModelSpec, FrozenExpert(), priors={"a": ["cauchy", 0.0, 1.0]})


@pytest.mark.parametrize(
    ("name", "prior"),
    [
        ("nu", ["beta", 1.0, 1.0]),  # beta on a positive parameter
        ("nu", ["normal", 0.0, 1.0]),  # normal on a positive parameter
        ("lam", ["normal", 0.0, 1.0]),  # normal on the unit interval
        ("lam", ["halfnormal", 1.0]),
        ("a", ["lognormal", 0.0, 1.0]),  # positive prior on a real parameter
        ("b", ["beta", 2.0, 2.0]),
    ],
)
def test_prior_not_suited_to_parameter(name, prior):
    raises_field(f"priors.{name}", ModelSpec, FrozenExpert(), priors={name: prior})


def test_bad_prior_arguments():
    raises_field("priors.nu", ModelSpec, FrozenExpert(), priors={"nu": ["halfnormal", -1.0]})  # negative scale
    raises_field("priors.a", ModelSpec, FrozenExpert(), priors={"a": ["normal", 0.0, 0.0]})
    raises_field("priors.a", ModelSpec, FrozenExpert(), priors={"a": ["normal", 0.0]})  # wrong arity
    raises_field("priors.a", ModelSpec, FrozenExpert(), priors={"a": ["normal", 0.0, math.inf]})
    raises_field("priors.lam", ModelSpec, FrozenExpert(), priors={"lam": ["beta", 1.0, "x"]})
    raises_field("priors.lam", ModelSpec, FrozenExpert(), priors={"lam": 3})
    raises_field("priors.lam", ModelSpec, FrozenExpert(), priors={"lam": []})
    raises_field("priors", ModelSpec, FrozenExpert(), priors={"tau": "flat"})  # not a parameter of this gate
    raises_field("priors", ModelSpec, FrozenExpert(), priors="jeffreys")


def test_priors_are_completed_with_defaults():
    spec = ModelSpec(FrozenExpert(nu=0.5), priors={"a": ["normal", 1.0, 2.0]})
    assert spec.prior("a") == Prior("normal", (1.0, 2.0))
    for name in ("lam", "b", "nu"):
        assert spec.prior(name) == default_prior(spec.support(name), 0.5)
        spec.prior(name).check(spec.support(name), name)  # defaults suit their parameter
    assert spec.prior("nu") != default_prior("positive", 2.0)  # the variance prior follows nu0
    assert [name for name, _ in spec.priors] == sorted(spec.param_names)
    flat = spec.with_priors("flat")
    assert all(p.family == "flat" for _, p in flat.priors)
    assert flat.frozen == spec.frozen


# ----------------------------------------------------------------------------------------------
# ModelSpec.from_config
# ----------------------------------------------------------------------------------------------


def test_from_config_structure_errors():
    raises_field("spec", ModelSpec.from_config, {"frozen": {}, "experts": 2})  # unknown top-level field
    raises_field("spec", ModelSpec.from_config, ["frozen"])
    raises_field("frozen", ModelSpec.from_config, {"gate": "constant"})  # missing frozen
    raises_field("frozen", ModelSpec.from_config, {"frozen": {"nu": 1.0, "scale": 2.0}})  # unknown frozen field
    raises_field("prompt", ModelSpec.from_config, {"frozen": {}, "prompt": {"bias": True, "laplace_reading": "scale"}})


def test_from_config_wrong_types():
    raises_field("frozen", ModelSpec.from_config, {"frozen": [1.0, 2.0]})
    raises_field("prompt", ModelSpec.from_config, {"frozen": {}, "prompt": "linear"})
    raises_field("priors", ModelSpec.from_config, {"frozen": {}, "priors": 3})
    raises_field("frozen.nu", ModelSpec.from_config, {"frozen": {"nu": "one"}})
    raises_field("frozen.bias", ModelSpec.from_config, {"frozen": {"bias": [1.0]}})
    raises_field("frozen.family", ModelSpec.from_config, {"frozen": {"family": 3}})
    raises_field("prompt.bias", ModelSpec.from_config, {"frozen": {}, "prompt": {"bias": "false"}})
    raises_field("gate", ModelSpec.from_config, {"frozen": {}, "gate": 1})


def test_from_config_non_numeric_weight():
    raises_field("frozen.weight", ModelSpec.from_config, {"frozen": {"weight": ["a", "b"]}})


def test_from_config_non_numeric_df():
    raises_field("frozen.df", ModelSpec.from_config, {"frozen": {"family": "student_t", "df": "five"}})


@pytest.mark.parametrize("part", ["frozen", "prompt"])
def test_from_config_unhashable_mean(part):
    config = {"frozen": {}, part: {"mean": ["linear"]}}
    raises_field(f"{part}.mean", ModelSpec.from_config, config)


def test_truth_from_config_non_numeric_alpha():
    raises_field(
        "truth.rates.lam.alpha", Truth.from_config, {"lam": 0.3, "rates": {"lam": {"coef": 1.0, "alpha": "fast"}}}
    )


def test_check_data_non_numeric(spec, data):
    x, y = data
    raises_field("y", check_data, spec, x, ["a"] * len(y))


def test_student_t_infinite_df():
    raises_field("frozen.df", FrozenExpert, family="student_t", df=math.inf)


# ----------------------------------------------------------------------------------------------
# specs are hashable, immutable values that round-trip through their config
# ----------------------------------------------------------------------------------------------


def _round_trip_specs():
    return [
        make_spec("student_t"),
        make_spec("laplace_scale", mean="tanh", gate="sigmoid", weight=(1.0, 0.0, 0.0), nu=0.001),
        make_spec("gaussian", mean="linear", prompt_mean="sigmoid", priors={"a": ["normal", 0.0, 1.0]}),
        make_spec("laplace", mean="gelu", priors="flat"),
        make_spec("gaussian", priors={"nu": ["halfcauchy", 2.0], "lam": ["beta", 2.0, 5.0]}),
        make_spec("gaussian", prompt_family="laplace"),
        make_spec("student_t", mean="tanh", gate="sigmoid", prompt_family="student_t", priors="flat"),
    ]


@pytest.mark.parametrize("index", range(7))
def test_config_round_trip(index):
    spec = _round_trip_specs()[index]
    config = spec.to_config()
    again = ModelSpec.from_config(json.loads(json.dumps(config)))  # through JSON, as results store it
    assert again == spec
    assert hash(again) == hash(spec)
    assert again.to_config() == config


def test_config_round_trip_without_frozen_bias():
    spec = make_spec("gaussian", mean="tanh", gate="sigmoid", weight=(1.0, 0.0), bias=None, prompt_bias=False)
    assert spec.same_structure and not spec.distinguishable
    again = ModelSpec.from_config(json.loads(json.dumps(spec.to_config())))
    assert again.frozen.bias is None
    assert again == spec


def test_specs_are_hashable_values():
    a, b = make_spec("student_t"), make_spec("student_t")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, make_spec("laplace")}) == 2
    assert {a: 1}[b] == 1
    assert a != a.with_priors("flat")
    hash(make_spec("gaussian", gate="sigmoid", priors="flat"))


def test_specs_are_immutable():
    spec = make_spec("student_t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.gate = "sigmoid"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.frozen.nu = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.prompt.mean = "tanh"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.prior("a").args = (0.0, 1.0)
    assert isinstance(spec.frozen.weight, tuple) and isinstance(spec.priors, tuple)


def test_spec_properties():
    spec = make_spec("gaussian", weight=(1.0, 2.0, 3.0))
    assert spec.dim == 3
    assert spec.param_names == ("lam", "a", "b", "nu")
    assert spec.shape("a") == (3,) and spec.shape("b") == ()
    assert spec.support("lam") == "unit" and spec.support("nu") == "positive" and spec.support("a") == "real"
    assert spec.same_structure and not spec.distinguishable
    sig = make_spec("gaussian", gate="sigmoid", prompt_bias=False)
    assert sig.param_names == ("beta", "tau", "a", "nu")
    assert not sig.same_structure and sig.distinguishable  # frozen has a bias, prompt has none
    assert make_spec("laplace").distinguishable
    assert make_spec("gaussian", prompt_mean="sigmoid").distinguishable


def test_prompt_family_decides_what_can_merge():
    """Not distinguishable iff f0 is of the prompt's family (and df) and structure: a Gaussian prompt merges into a
    Gaussian f0 only, a Laplace prompt into a Laplace f0 only, a Student-t(4) prompt into a Student-t(4) f0 only."""
    for prompt_family, frozen_family in itertools.product(PROMPT_FAMILY_CASES, FAMILY_CASES):
        spec = make_spec(frozen_family, prompt_family=prompt_family)
        merges = spec.frozen.family == spec.prompt.family and spec.frozen.df == spec.prompt.df
        assert spec.same_structure and spec.same_family == merges and spec.distinguishable == (not merges)
    same_t = ModelSpec(FrozenExpert("student_t", df=4.0, bias=0.0), PromptExpert(family="student_t", df=4.0))
    assert not same_t.distinguishable
    assert ModelSpec(
        FrozenExpert("student_t", df=5.0, bias=0.0), PromptExpert(family="student_t", df=4.0)
    ).distinguishable
    assert make_spec("laplace", prompt_family="laplace", prompt_mean="sigmoid").distinguishable  # another structure
    assert (
        "(1 - lam) t_5(y | x1 - 0.5 x2, 1) + lam Laplace(y | a.x + b, nu)"
        in make_spec("student_t", prompt_family="laplace").formula()
    )
    assert "+ lam t_4(y | a.x + b, nu)" in same_t.formula()
