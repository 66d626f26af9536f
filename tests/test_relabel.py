"""Label switching among K >= 2 prompts: relabelling on made-up draws with a known labelling, then on NUTS
chains that settle in the two labellings of one posterior, the collapse report with several prompts, the CLI."""

from __future__ import annotations

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from helpers import key, sampler_alarm, seed
from numpyro.infer.util import potential_energy

import bayescmoe
from bayescmoe.cli import main
from bayescmoe.diagnostics import collapse as cl
from bayescmoe.diagnostics.relabelling import MERGED_SHARE, prompt_overlap, relabel, relabelling_of
from bayescmoe.diagnostics.signals import diagnose, prompt_view, sampler_warnings
from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.nuts import NutsFit, fit_nuts
from bayescmoe.inference.predictive import log_prior_draws, pointwise_log_likelihood
from bayescmoe.model.labels import exchangeable_groups, permuted
from bayescmoe.model.numpyro_model import model
from bayescmoe.model.params import unconstrain
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.results.datatree import load, params_dataset, save, spec_of, to_datatree

FROZEN = FrozenExpert(weight=(1.0,), bias=0.0, nu=1.0)
#: three prompts of one structure, well apart in a and b
TRUTH3 = {
    "lam": np.array([0.2, 0.25, 0.3]),
    "a": np.array([[-2.0], [0.5], [2.0]]),
    "b": np.array([3.0, -1.0, -3.0]),
    "nu": np.array([0.25, 0.5, 0.2]),
}
#: two prompts of one structure, well apart
TRUTH2 = {k: v[[0, 2]] for k, v in TRUTH3.items()}
CHAINS, DRAWS = 2, 300


def noisy(truth: dict, sd: float, k: int = 0) -> tuple[dict, np.ndarray]:
    """Draws (chain, draw, K, ...) around ``truth`` (relative noise ``sd`` on lam and nu) and their lp, highest
    nearest the truth: a posterior that learnt every prompt, in one labelling."""
    rng = np.random.default_rng(seed(k))
    noise = {name: rng.normal(size=(CHAINS, DRAWS, *np.shape(v))) * sd for name, v in truth.items()}
    draws = {name: v * np.exp(noise[name]) if name in ("lam", "nu") else v + noise[name] for name, v in truth.items()}
    return draws, -sum(np.sum(e**2, axis=tuple(range(2, e.ndim))) for e in noise.values())


def shuffled(draws: dict, k: int = 0) -> tuple[dict, np.ndarray]:
    """``draws`` with each draw's prompts in a random order, and the orders (chain * draw, K)."""
    rng = np.random.default_rng(seed(k))
    num = next(iter(draws.values())).shape[2]
    perm = np.array([rng.permutation(num) for _ in range(CHAINS * DRAWS)])
    flat = {name: v.reshape(CHAINS * DRAWS, *v.shape[2:]) for name, v in draws.items()}
    return {name: permuted(v, perm).reshape(draws[name].shape) for name, v in flat.items()}, perm


def result(spec: ModelSpec, draws: dict, lp: np.ndarray, n: int = 200, k: int = 0) -> xr.DataTree:
    """A NUTS-shaped result of made-up ``draws`` and ``lp``, on data simulated at the draws' first."""
    x, y = simulate(key(k), spec, {name: jnp.asarray(v[0, 0]) for name, v in draws.items()}, n)
    rng = np.random.default_rng(seed(k))
    stats = {
        "potential_energy": -lp,
        "energy": -lp + rng.exponential(size=lp.shape),
        "diverging": np.zeros(lp.shape, bool),
        "num_steps": np.full(lp.shape, 7),
        "accept_prob": np.full(lp.shape, 0.9),
    }
    return to_datatree(spec, np.asarray(x), np.asarray(y), nuts=NutsFit(draws, stats, 10), log_likelihood=False)


def spec_of_k(k: int, **changes) -> ModelSpec:
    return ModelSpec(FROZEN, prompt=[PromptExpert()] * k, **changes)


# ----------------------------------------------------------------------------------------------
# made-up draws with a known labelling
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three():
    """Three prompts well apart, each draw's labels shuffled: (result, draws as labelled before the shuffle, orders)."""
    spec = spec_of_k(3)
    draws, lp = noisy(TRUTH3, 0.02)
    mixed, perm = shuffled(draws)
    return result(spec, mixed, lp), draws, perm


def test_every_draw_gets_the_pivots_labelling(three):
    dt, draws, perm = three
    out = bayescmoe.relabel(dt)
    lp = dt["sample_stats"]["lp"].values.ravel()
    pivot = perm[np.argmax(lp)]  # the draw of highest lp: label k holds its prompt pivot[k] of the truth
    for name, v in draws.items():
        expected = permuted(v.reshape(CHAINS * DRAWS, *v.shape[2:]), np.tile(pivot, (CHAINS * DRAWS, 1)))
        np.testing.assert_array_equal(out["posterior"][name].values, expected.reshape(v.shape))
        np.testing.assert_array_equal(out["posterior_raw"][name].values, dt["posterior"][name].values)
    record = relabelling_of(out)
    assert record["reference"].startswith("the draw of highest lp") and record["converged"]
    moved = np.any(perm != pivot, axis=1).reshape(CHAINS, DRAWS).mean(axis=1)
    np.testing.assert_allclose(record["permuted_share"], moved)
    assert record["exchangeable"] == [[0, 1, 2]] and record["note"] == ""
    assert [o["merged"] for o in record["overlap"]] == [False] * 3
    assert all(o["ambiguous_share"] == 0 for o in record["overlap"])


def test_the_unconstrained_draws_follow_and_the_input_is_untouched(three):
    dt, _, _ = three
    out = relabel(dt)
    spec = spec_of(dt)
    post = {k: out["posterior"][k].values for k in spec.param_names}
    for name, v in unconstrain(spec, post).items():
        np.testing.assert_allclose(out["unconstrained_posterior"][name].values, v)
    assert "posterior_raw" not in dt.children and "relabelling" not in dt.attrs
    for name in spec.param_names:  # the prior is exchangeable: each draw's log prior is unchanged
        np.testing.assert_allclose(log_prior_draws(spec, post)[name], out["log_prior"][name].values, rtol=1e-12)


def test_a_given_reference_and_relabelling_again(three):
    dt, draws, _ = three
    out = relabel(dt, reference=TRUTH3)
    np.testing.assert_array_equal(out["posterior"]["b"].values, draws["b"])  # the truth's labelling
    again = relabel(out)  # from the raw draws again, to the draw of highest lp
    np.testing.assert_array_equal(again["posterior_raw"]["b"].values, dt["posterior"]["b"].values)
    np.testing.assert_array_equal(again["posterior"]["b"].values, relabel(dt)["posterior"]["b"].values)
    assert relabelling_of(out)["reference"] == "given parameters"


def test_stephens_loss_on_the_classification_agrees(three):
    """Prompts well apart explain different observations: Stephens' loss labels the draws as the parameters do."""
    dt, _, _ = three
    out = relabel(dt, method="stephens")
    np.testing.assert_array_equal(out["posterior"]["a"].values, relabel(dt)["posterior"]["a"].values)
    assert relabelling_of(out)["method"] == "stephens" and relabelling_of(out)["converged"]


def test_merged_prompts_make_the_labels_ambiguous():
    """Two prompts drawn from one distribution (a posterior that cannot tell them apart) against two apart."""
    spec = spec_of_k(2)
    one = {k: v[1:3] for k, v in TRUTH3.items()}
    same = {k: np.stack([v[0], v[0]]) for k, v in one.items()}
    draws, lp = noisy(same, 0.05)
    merged = prompt_overlap(relabel(result(spec, draws, lp)))
    assert merged[0].merged and merged[0].ambiguous_share >= MERGED_SHARE
    draws, lp = noisy(one, 0.05)
    apart = prompt_overlap(relabel(result(spec, draws, lp)))
    assert not apart[0].merged and apart[0].ambiguous_share == 0 and apart[0].distance > 20


def test_exchangeable_groups_need_one_structure_and_one_prior_weight():
    assert exchangeable_groups(spec_of_k(3)) == ((0, 1, 2),)
    mixed = ModelSpec(FROZEN, prompt=[PromptExpert(), PromptExpert(mean="tanh"), PromptExpert()])
    assert exchangeable_groups(mixed) == ((0, 2),)
    weights = spec_of_k(3, priors={"lam": ["dirichlet", 2.0, 1.0, 3.0, 1.0]})
    assert exchangeable_groups(weights) == ((0, 2),)
    assert exchangeable_groups(spec_of_k(2, gate="softmax")) == ((0, 1),)


def test_prompts_of_other_structures_are_left_as_they_are():
    spec = ModelSpec(FROZEN, prompt=[PromptExpert(), PromptExpert(mean="tanh")])
    draws, lp = noisy({k: v[:2] for k, v in TRUTH3.items()}, 0.02)
    dt = result(spec, draws, lp)
    out = relabel(dt)
    np.testing.assert_array_equal(out["posterior"]["a"].values, dt["posterior"]["a"].values)
    record = relabelling_of(out)
    assert record["permuted_share"] == [0.0, 0.0] and "no two prompts are exchangeable" in record["note"]


def test_an_ordering_constraint_makes_relabelling_unnecessary():
    spec = spec_of_k(3, order="b")
    ordered = {k: v[::-1] for k, v in TRUTH3.items()}  # b increasing
    draws, lp = noisy(ordered, 0.02)
    dt = result(spec, draws, lp)
    record = relabelling_of(relabel(dt))
    assert "spec.order = 'b' identifies the labels already" in record["note"]
    assert record["permuted_share"] == [0.0, 0.0]
    report = cl.collapse_report(dt, evidence=None)  # on the draws as sampled
    assert "relabelling: none: spec.order = 'b' identifies the labels" in report.render(parameters=False)
    assert report.verdict in cl.PROMPTS_VERDICTS and len(report.pairs) == 3 and not any(c.fired for c in report.pairs)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"method": "ecr"}, "method"),
        ({"reference": "median"}, "reference"),
        ({"reference": "mle"}, "reference"),
        ({"reference": {"lam": [0.2, 0.2]}}, "reference"),
    ],
)
def test_bad_requests_name_their_field(three, change, field):
    with pytest.raises(BayescmoeError) as err:
        relabel(three[0], **change)
    assert err.value.field == field


def test_one_prompt_has_no_labels_to_switch():
    draws, lp = noisy({"lam": 0.3, "a": np.array([1.0]), "b": 0.0, "nu": 0.5}, 0.02)
    with pytest.raises(BayescmoeError, match="one prompt: there are no labels to switch") as err:
        relabel(result(ModelSpec(FROZEN), draws, lp))
    assert err.value.field == "result"


def test_a_prompts_view_carries_its_prior_marginal_and_the_matched_map(three):
    dt, draws, _ = three
    spec = spec_of(dt)
    dt = dt.copy()
    dt["map"] = xr.DataTree(params_dataset(spec, TRUTH3))
    out = relabel(dt)  # to the MAP: the truth's labelling
    assert relabelling_of(out)["reference"] == "map"
    np.testing.assert_array_equal(out["posterior"]["b"].values, draws["b"])
    swapped = dt.copy()  # the MAP in another labelling than the draws'
    swapped["map"] = xr.DataTree(params_dataset(spec, {k: v[[2, 0, 1]] for k, v in TRUTH3.items()}))
    view = prompt_view(relabel(swapped, reference=TRUTH3), 1)
    assert float(view["map"]["b"]) == TRUTH3["b"][1]
    one = spec_of(view)
    assert one.num_prompts == 1 and one.prior("lam") == bayescmoe.Prior("beta", (1.0, 3.0))  # Dirichlet(1, 1, 1, 1)


def test_a_softmax_prompts_share_is_its_weight_among_all_experts():
    """With the softmax gate, prompt k's wbar is the mean over x of exp(l_k) / (1 + sum_j exp(l_j)),
    l_j = beta_j.x + tau_j: checked against NumPy."""
    spec = spec_of_k(2, gate="softmax")
    truth = {"beta": np.array([[1.0], [-1.0]]), "tau": np.array([-1.0, 0.5]), **TRUTH2}
    draws, lp = noisy({k: truth[k] for k in spec.param_names}, 0.05)
    dt = result(spec, draws, lp)
    x = dt["constant_data"]["x"].values
    logits = np.einsum("nd,skd->snk", x, draws["beta"].reshape(-1, 2, 1)) + draws["tau"].reshape(-1, 1, 2)
    shares = np.exp(logits) / (1 + np.exp(logits).sum(axis=2, keepdims=True))
    d = diagnose(dt, prompt=1)
    assert d.prompt_observations == pytest.approx(np.median(len(x) * shares[:, :, 1].mean(axis=1)), rel=1e-9)
    assert [p.label for p in d.parameters] == ["beta[0]", "tau", "a[0]", "b", "nu"]


def test_diagnose_asks_which_prompt(three):
    for prompt in (None, 3, -1):
        with pytest.raises(BayescmoeError) as err:
            diagnose(three[0], prompt=prompt)
        assert err.value.field == "prompt"


# ----------------------------------------------------------------------------------------------
# NUTS chains in the two labellings of one posterior
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def switched() -> xr.DataTree:
    """4 chains of a K = 2 fit, n = 400: two started at the truth, two at its swapped labels (the chains cannot
    cross between the copies, which lie far apart)."""
    spec = spec_of_k(2)
    x, y = simulate(key(1), spec, {k: jnp.asarray(v) for k, v in TRUTH2.items()}, 400)
    x, y = np.asarray(x), np.asarray(y)
    starts = (TRUTH2, {k: v[::-1] for k, v in TRUTH2.items()})
    fits = [
        fit_nuts(spec, x, y, key=seed(2 + i), num_warmup=200, num_samples=200, num_chains=2, init=start)
        for i, start in enumerate(starts)
    ]
    samples, stats = (
        {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
        for parts in ([f.samples for f in fits], [f.stats for f in fits])
    )
    nuts = NutsFit(samples, stats, fits[0].max_tree_depth)
    return to_datatree(spec, x, y, nuts=nuts)


def test_relabelling_repairs_r_hat(switched):
    before = az.summary(switched, kind="diagnostics")["r_hat"]
    out = relabel(switched)
    after = az.summary(out, kind="diagnostics")["r_hat"]
    assert before.max() > 1.5 and after.max() < 1.05, (before, after)
    record = relabelling_of(out)
    assert record["rhat_raw"] == pytest.approx(before.max(), abs=0.01)
    assert record["rhat"] == pytest.approx(after.max(), abs=0.01)
    assert sorted(record["permuted_share"]) == [0, 0, 1, 1], record  # two chains in each labelling
    assert not record["overlap"][0]["merged"]
    assert any("labels of exchangeable prompts switched" in line for line in sampler_warnings(switched))
    by_stephens = relabel(switched, method="stephens")
    np.testing.assert_array_equal(by_stephens["posterior"]["b"].values, out["posterior"]["b"].values)
    # Stan's 1.01 may still warn by Monte Carlo noise on 4 x 200 draws; never by the two labellings
    assert all(float(line.split()[1]) < 1.05 for line in sampler_warnings(out) if line.startswith("R-hat"))


@pytest.mark.slow
def test_likelihood_prior_and_log_posterior_are_invariant(switched):
    """What relabel leaves alone still describes the relabelled draws: the pointwise log-likelihood, the log prior
    and the sampler's lp (NumPyro's potential energy on the unconstrained scale, Jacobian included)."""
    out = relabel(switched)
    spec = spec_of(out)
    x, y = jnp.asarray(out["constant_data"]["x"].values), jnp.asarray(out["observed_data"]["y"].values)
    post = {k: out["posterior"][k].values for k in spec.param_names}
    loglik = pointwise_log_likelihood(spec, x, y, post)
    np.testing.assert_allclose(loglik, out["log_likelihood"]["y"].values, rtol=1e-10)
    for name, value in log_prior_draws(spec, post).items():
        np.testing.assert_allclose(value, out["log_prior"][name].values, rtol=1e-10)
    free = {k: jnp.asarray(out["unconstrained_posterior"][k].values.reshape(-1, *v.shape[2:])) for k, v in post.items()}
    energy = jax.vmap(lambda u: potential_energy(model, (spec, x, y), {}, u))(free)
    np.testing.assert_allclose(-np.asarray(energy), out["sample_stats"]["lp"].values.ravel(), rtol=1e-9)
    assert not np.allclose(post["a"], out["posterior_raw"]["a"].values)  # some draws were permuted


@pytest.mark.slow
def test_collapse_report_of_two_prompts(switched):
    report = bayescmoe.collapse_report(switched)  # PSIS-LOO of both prompts against f0 alone
    assert isinstance(report, cl.PromptsReport) and report.evidence.criterion == "loo"
    assert len(report.prompts) == 2 and [c.name for c in report.pairs] == ["merged[0, 1]"]
    assert not report.pairs[0].fired
    for prompt in report.prompts:  # a contracted prompt on each side of f0, perhaps with a sampler alarm
        assert prompt.verdict == "identified" or sampler_alarm(prompt.verdict, prompt.reason), prompt.reason
    assert report.verdict in cl.PROMPTS_VERDICTS[2:]  # weakly identified or identified
    text = report.render(parameters=False)
    assert "relabelling: hungarian to the draw of highest lp" in text and "== prompt 1 ==" in text
    view = report.prompts[0].diagnostics
    assert view.n == 400 and view.num_chains == 4 and max(p.rhat for p in view.parameters) < 1.05


def test_merged_prompts_in_the_collapse_report():
    spec = spec_of_k(2)
    draws, lp = noisy({k: np.stack([v[1], v[1]]) for k, v in TRUTH3.items()}, 0.05)
    report = cl.collapse_report(result(spec, draws, lp), evidence=None)
    assert report.verdict == "prompts merged" and report.reason.startswith("merged[0, 1]")
    assert "crossed: their labels are not identified" in report.render(parameters=False)


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_relabel_command_writes_the_relabelled_result(switched, tmp_path, capsys):
    path = save(switched, tmp_path / "two.nc")
    out = tmp_path / "relabelled" / "two.nc"
    assert main(["relabel", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "share of draws permuted per chain" in printed and f"wrote {out}" in printed
    dt = load(out)
    assert "posterior_raw" in dt.children and relabelling_of(dt)["method"] == "hungarian"
    np.testing.assert_array_equal(dt["posterior"]["b"].values, relabel(switched)["posterior"]["b"].values)


@pytest.mark.parametrize(
    ("make", "argv", "field"),
    [
        ("one prompt", [], "result"),
        ("two", ["--method", "ecr"], "arguments"),
        ("two", ["--out", "relabelled.csv"], "out"),
    ],
)
def test_relabel_command_bad_input_is_one_line(make, argv, field, three, tmp_path, capsys):
    path = tmp_path / "r.nc"
    if make == "two":
        save(three[0], path)
    else:
        draws, lp = noisy({"lam": 0.3, "a": np.array([1.0]), "b": 0.0, "nu": 0.5}, 0.02)
        save(result(ModelSpec(FROZEN), draws, lp), path)
    out = tmp_path / "out.nc"
    argv = ["relabel", str(path), *(argv if "--out" in argv else ["--out", str(out), *argv])]
    assert main([a if a != "relabelled.csv" else str(tmp_path / a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: {field}"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]  # no output written
