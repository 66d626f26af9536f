"""Collapse diagnostics, each on a synthetic posterior with a known answer (no sampling)."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
from helpers import make_spec, most_seeds, seed
from scipy import special, stats

from bayescmoe.diagnostics import signals as dg
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.spec import FrozenExpert, ModelSpec

CHAINS, DRAWS = 2, 2000


def synthetic_result(spec: ModelSpec, posterior: dict, x: np.ndarray, diverging: int = 0, map_=None):
    """A DataTree shaped like a saved NUTS result: posterior, sample_stats, constant and observed data, the spec."""
    rng = np.random.default_rng(seed(0))
    dead = np.zeros((CHAINS, DRAWS), bool)
    dead.flat[:diverging] = True
    groups = {
        "posterior": posterior,
        "sample_stats": {"energy": rng.normal(size=(CHAINS, DRAWS)).cumsum(axis=1) * 0.1, "diverging": dead},
        "constant_data": {"x": x},
        "observed_data": {"y": x[:, 0] + np.sqrt(0.1) * rng.normal(size=len(x))},
    }
    dt = az.from_dict(groups, dims={"a": ["feature"], "beta": ["feature"], "x": ["obs", "feature"], "y": ["obs"]})
    if map_ is not None:
        dt["map"] = az.from_dict({"posterior": {k: np.asarray(v)[None, None] for k, v in map_.items()}})[
            "posterior"
        ].isel(chain=0, draw=0, drop=True)
    dt.attrs["bayescmoe_spec"] = json.dumps(spec.to_config())
    return dt


def prior_draws(k: int = 0) -> dict[str, np.ndarray]:
    """Draws from the default priors of :data:`SPEC` by SciPy: a posterior that learnt nothing."""
    rng = np.random.default_rng(seed(k))
    return {
        "lam": rng.uniform(size=(CHAINS, DRAWS)),
        "a": rng.normal(0.0, 3.0, size=(CHAINS, DRAWS, 2)),
        "b": rng.normal(0.0, 3.0, size=(CHAINS, DRAWS)),
        "nu": stats.invgamma(a=2.0, scale=SPEC.frozen.nu).rvs(size=(CHAINS, DRAWS), random_state=rng),
    }


def point_draws(spec: ModelSpec, values: dict, sd: float = 1e-3, k: int = 0) -> dict[str, np.ndarray]:
    """Draws tightly around ``values`` (relative sd ``sd`` for nu): a posterior that learnt everything."""
    rng = np.random.default_rng(seed(k))
    out = {}
    for name in spec.param_names:
        v = np.asarray(values[name], dtype=float)
        noise = rng.normal(size=(CHAINS, DRAWS, *v.shape)) * sd
        out[name] = v * np.exp(noise) if name in ("nu", "lam") else v + noise
    return out


SPEC = make_spec("gaussian", weight=(1.0, 0.0), nu=0.1)  # d = 2, Gaussian linear, same structure: can merge
X = np.random.default_rng(seed(1)).normal(size=(500, 2))
VALUES = {"lam": 0.3, "a": np.array([-1.0, 1.0]), "b": 0.5, "nu": 0.1}


# ----------------------------------------------------------------------------------------------
# prior variance and contraction
# ----------------------------------------------------------------------------------------------


def _log_var(law) -> float:
    """Monte-Carlo variance of log X under a SciPy law: the reference for the closed forms."""
    return float(np.var(np.log(law.rvs(size=1_000_000, random_state=np.random.default_rng(seed(0))))))


@pytest.mark.parametrize(
    ("prior", "support", "variance", "scale"),
    [
        (["normal", 0.0, 3.0], "real", 9.0, "natural"),
        (["beta", 1.0, 1.0], "unit", 1 / 12, "natural"),
        (["inversegamma", 3.0, 0.1], "positive", 0.1**2 / (2**2 * 1), "natural"),
        (["inversegamma", 2.0, 0.1], "positive", _log_var(stats.invgamma(a=2.0, scale=0.1)), "unconstrained"),
        (["halfcauchy", 1.0], "positive", _log_var(stats.halfcauchy(scale=1.0)), "unconstrained"),
        ("flat", "positive", np.nan, "none"),
    ],
)
def test_prior_variance_on_the_documented_scale(prior, support, variance, scale):
    name = {"real": "b", "unit": "lam", "positive": "nu"}[support]
    spec = SPEC.with_priors({name: prior})
    got, got_scale = dg.prior_variance(spec, name)
    assert got_scale == scale
    np.testing.assert_allclose(got, variance, rtol=0.01)


@pytest.mark.slow
def test_contraction_is_zero_for_the_prior_and_one_for_a_point():
    """Prior draws: |contraction| within 4 s.e. of a variance ratio, sqrt((kurtosis - 1) / draws) on its scale."""
    prior = prior_draws()
    as_prior = dg.diagnose(synthetic_result(SPEC, prior, X))
    as_point = dg.diagnose(synthetic_result(SPEC, point_draws(SPEC, VALUES), X))
    for p in as_prior.parameters:
        draws = prior[p.name][..., int(p.label[2])] if "[" in p.label else prior[p.name]
        assert p.contraction_scale == ("unconstrained" if p.name == "nu" else "natural"), p
        values = np.log(draws).ravel() if p.name == "nu" else draws.ravel()
        se = np.sqrt((stats.kurtosis(values, fisher=False) - 1) / values.size)
        assert abs(p.contraction) < 4 * se, (p, se)
    for p in as_point.parameters:
        assert p.contraction > 0.999, p
    assert {p.label: p.contraction_scale for p in as_point.parameters}["nu"] == "unconstrained"


def test_contraction_of_a_halved_sd_is_three_quarters():
    rng = np.random.default_rng(seed(2))
    assert dg.contraction(rng.normal(0, 1.5, 200_000), 9.0) == pytest.approx(0.75, abs=0.01)


def test_flat_prior_gives_nan_contraction():
    spec = SPEC.with_priors("flat")
    d = dg.diagnose(synthetic_result(spec, point_draws(spec, VALUES), X))
    assert all(np.isnan(p.contraction) and p.contraction_scale == "none" for p in d.parameters)
    assert np.isnan(d.prior_gate_mass_near_zero)


# ----------------------------------------------------------------------------------------------
# chains, modes, funnels, distances
# ----------------------------------------------------------------------------------------------


def _ar1(rng, phi: float, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape)
    out[..., 0] = rng.normal(size=shape[:-1])
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=shape[:-1])
    return out


@pytest.mark.parametrize("test", [dg.chain_disagreement, dg.chain_rank_test], ids=["kruskal", "arviz-stats"])
def test_chain_tests_fire_on_shifted_chains_only(test):
    """Chains of one law: a p-value, uniform, above 0.01 at a majority of 3 seeds; a 0.5 sd shift: below 1e-6."""

    def quiet_unless_shifted(k: int) -> bool:
        same = np.random.default_rng(seed(k)).normal(size=(4, 1000))
        assert test(same + np.array([0.0, 0.0, 0.0, 0.5])[:, None]) < 1e-6
        return test(same) > 0.01

    most_seeds(quiet_unless_shifted, 3)
    assert np.isnan(test(np.arange(10.0)[None])) and np.isnan(test(np.ones((2, 10))))  # one chain, constant


def test_chain_disagreement_thins_autocorrelated_chains():
    """AR(0.95) chains of one law: unthinned, the Kruskal-Wallis p-value is below 0.01 at 95% of seeds (median
    1e-18); thinned to about independent draws its median over 40 seeds stays above 0.05 (0.37 over 300 seeds,
    and below 0.05 at 15% of them)."""
    draws = [_ar1(np.random.default_rng(seed(4 + 100 * i)), 0.95, (4, 1000)) for i in range(40)]
    assert float(az.ess(draws[0])) < 400
    assert np.median([stats.kruskal(*d).pvalue for d in draws]) < 1e-6  # what thinning is for
    assert np.median([dg.chain_disagreement(d) for d in draws]) > 0.05


def test_bimodality_coefficient_separates_one_mode_from_two():
    rng = np.random.default_rng(seed(5))
    assert dg.bimodality_coefficient(rng.normal(size=20_000)) == pytest.approx(1 / 3, abs=0.02)
    assert dg.bimodality_coefficient(rng.uniform(size=20_000)) == pytest.approx(5 / 9, abs=0.02)
    two = np.concatenate([rng.normal(-3, 1, 10_000), rng.normal(3, 1, 10_000)])
    assert dg.bimodality_coefficient(two) > 0.7


def test_funnel_detects_spread_growing_as_the_gate_shrinks():
    rng = np.random.default_rng(seed(6))
    log_gate = rng.uniform(np.log(1e-3), np.log(0.5), 5000)
    corr, ratio = dg.funnel(log_gate, rng.normal(size=5000) * np.exp(-0.5 * log_gate))
    assert corr < -0.95 and ratio > 5
    corr, ratio = dg.funnel(log_gate, rng.normal(size=5000))
    assert ratio == pytest.approx(1.0, abs=0.15)


def test_standardized_distance_and_frozen_mean_test():
    rng = np.random.default_rng(seed(7))
    draws = rng.normal([1.0, 0.0, 2.0], [0.1, 0.2, 0.3], size=(4000, 3))
    assert dg.standardized_distance(draws[:, 0], 1.3) == pytest.approx(3.0, rel=0.05)
    d2, p = dg.frozen_mean_test(draws, np.array([1.0, 0.0, 2.0]))
    assert d2 < 0.1 and p > 0.9
    d2, p = dg.frozen_mean_test(draws, np.array([1.5, 0.0, 2.0]))
    assert d2 == pytest.approx(25, rel=0.1) and p < 1e-4


# ----------------------------------------------------------------------------------------------
# gate mass, sampler numbers, end to end
# ----------------------------------------------------------------------------------------------


def test_gate_eps_is_ten_observations_per_prompt_parameter():
    assert dg.gate_eps(SPEC, 1000) == pytest.approx(10 * 4 / 1000)  # a (2), b, nu
    p2 = ModelSpec(FrozenExpert("laplace", "tanh", weight=(1.0,) * 8, nu=0.001), gate="sigmoid")
    assert dg.gate_eps(p2.with_priors({}), 2000) == pytest.approx(10 * 10 / 2000)
    assert dg.gate_eps(SPEC, 100) == pytest.approx(10 * 4 / 160) == dg.GATE_EPS_MAX  # the cap takes over at n = 160
    assert dg.gate_eps(SPEC, 20) == dg.GATE_EPS_MAX  # not 2: a prompt's share of the data is at most 1


def test_sigmoid_gate_weight_is_its_mean_over_x():
    spec = make_spec("laplace", gate="sigmoid", weight=(1.0, 0.0))
    rng = np.random.default_rng(seed(8))
    beta, tau = rng.normal(size=(CHAINS, DRAWS, 2)), rng.normal(size=(CHAINS, DRAWS))
    post = {
        **point_draws(spec, {"a": [1.0, 0.0], "b": 0.0, "nu": 0.1, "beta": [0, 0], "tau": 0}),
        "beta": beta,
        "tau": tau,
    }
    got = dg.gate_draws(synthetic_result(spec, post, X))
    want = special.expit(np.einsum("cdk,nk->cdn", beta, X) + tau[..., None]).mean(axis=-1).ravel()
    np.testing.assert_allclose(got, want, rtol=1e-10)
    for tau, mass in ((-20.0, 1.0), (20.0, 0.0)):  # priors that put the gate at 0 or at 1
        sure = spec.with_priors({"tau": ["normal", tau, 0.1], "beta": ["normal", 0.0, 0.01]})
        assert dg.prior_gate_mass(sure, X, 0.05) == mass


def test_gate_mass_near_zero_counts_draws_below_eps():
    post = point_draws(SPEC, VALUES)
    post["lam"] = np.tile(np.linspace(0.001, 0.2, DRAWS), (CHAINS, 1))  # a quarter below 0.05
    d = dg.diagnose(synthetic_result(SPEC, post, X), eps=0.05)
    assert d.gate_mass_near_zero == pytest.approx(0.25, abs=0.01)
    assert d.prior_gate_mass_near_zero == pytest.approx(0.05, abs=0.01)  # Beta(1, 1)


def test_diagnose_reads_arviz_and_sampler_numbers():
    post = point_draws(SPEC, VALUES, sd=0.1)
    post["b"] = post["b"] + np.array([0.0, 0.3])[:, None]  # chain 1 off by 3 sd
    dt = synthetic_result(SPEC, post, X, diverging=7, map_={**VALUES, "b": 0.5 + 0.15 + 0.4})
    d = dg.diagnose(dt)
    by = {p.label: p for p in d.parameters}
    assert by["b"].rhat == pytest.approx(float(az.rhat(dt, var_names=["b"])["b"]))
    assert by["b"].rhat > 1.1 and by["b"].chain_p < 1e-10
    # a[0]'s chains share one law: its chain test is a uniform p-value (its calibration: the chain tests' test)
    assert by["a[0]"].rhat < 1.01 and by["a[0]"].chain_p == pytest.approx(dg.chain_disagreement(post["a"][..., 0]))
    assert by["a[1]"].ess_tail == pytest.approx(float(az.ess(dt, var_names=["a"], method="tail")["a"][1]))
    assert d.divergences == 7 and len(d.bfmi) == CHAINS
    assert d.bfmi[0] == pytest.approx(float(az.bfmi(dt)["energy"][0]))
    assert by["b"].map_distance == pytest.approx(abs(1.05 - by["b"].mean) / by["b"].sd, rel=1e-9)
    assert by["b"].map_distance == pytest.approx(0.4 / 0.18, rel=0.05)  # sd of the two chains: 0.18
    assert [p.role for p in d.parameters] == ["gate", "prompt", "prompt", "prompt", "prompt"]
    assert list(d.table().index) == ["lam", "a[0]", "a[1]", "b", "nu"]


@pytest.mark.slow
def test_frozen_distance_is_to_the_prompt_closest_to_f0():
    on_frozen = {**VALUES, "a": np.array([1.0, 0.0]), "b": 0.0}
    d = dg.diagnose(synthetic_result(SPEC, point_draws(SPEC, on_frozen, sd=0.1), X))
    assert d.frozen_p > 0.01 and all(p.frozen_distance < 0.2 for p in d.of_role("prompt"))
    assert d.merge_probe == pytest.approx(0.0, abs=1e-4)  # a Gaussian f0 is a Gaussian prompt: lam is free
    off = dg.diagnose(synthetic_result(SPEC, point_draws(SPEC, VALUES, sd=0.1), X))
    assert off.frozen_p < 1e-10
    # another structure: the distance is to the least-squares sigmoid prompt, far from f0's linear mean
    other = make_spec("gaussian", weight=(1.0, 0.0), prompt_mean="sigmoid")
    closest = dg.frozen_projection(other, X)
    d = dg.diagnose(synthetic_result(other, point_draws(other, {**VALUES, **closest}, sd=0.1), X))
    assert d.frozen_p > 0.01 and all(p.frozen_distance < 0.2 for p in d.of_role("prompt"))
    assert closest["nu"] > 0.2  # f0's variance 0.1 plus the sigmoid's squared misfit


def test_a_result_without_posterior_is_an_error():
    dt = synthetic_result(SPEC, point_draws(SPEC, VALUES), X)
    del dt["posterior"]
    with pytest.raises(BayescmoeError, match="result: has no 'posterior' group"):
        dg.diagnose(dt)


def test_funnel_ignores_a_linear_dependence_on_a_skewed_gate():
    rng = np.random.default_rng(seed(3))
    log_gate = -rng.gamma(2.0, 0.5, size=5000)  # long tail towards small gates
    _, ratio = dg.funnel(log_gate, 3.0 * log_gate + rng.normal(size=5000))  # constant spread around a line
    assert ratio < 1.2
