"""The collapse report: the decision rule on made-up diagnostics, then real small fits, then the CLI."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from bayescmoe.cli import main
from bayescmoe.diagnostics import collapse as cl
from bayescmoe.diagnostics.signals import FitDiagnostics, ParameterDiagnostics
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec
from bayescmoe.model.truth import Truth, merging_prompt
from bayescmoe.results.datatree import save, to_datatree

# ----------------------------------------------------------------------------------------------
# the decision rule on diagnostics with chosen values
# ----------------------------------------------------------------------------------------------


def _param(label: str, **changes) -> ParameterDiagnostics:
    role = "gate" if label == "lam" else "prompt"
    healthy = ParameterDiagnostics(
        label=label,
        name=label.split("[")[0],
        role=role,
        mean=0.0,
        sd=0.1,
        rhat=1.001,
        ess_bulk=1500.0,
        ess_tail=1200.0,
        contraction=0.995,
        contraction_scale="natural",
        chain_p=0.5,
        chain_rank_p=0.5,
        bimodality=0.33,
        funnel_corr=np.nan if role == "gate" else 0.1,
        funnel_ratio=np.nan if role == "gate" else 1.0,
        map_distance=0.1,
        frozen_distance=np.nan,
    )
    return dataclasses.replace(healthy, **changes)


def made_up(distinguishable: bool = True, params: dict | None = None, **fit) -> FitDiagnostics:
    """Healthy diagnostics of a d = 2 constant-gate fit, with ``params`` {label: changes} and ``fit`` changes."""
    labels = ("lam", "a[0]", "a[1]", "b", "nu")
    base = FitDiagnostics(
        n=1000,
        num_chains=4,
        num_draws=500,
        distinguishable=distinguishable,
        divergences=0,
        bfmi=(1.0, 1.1, 0.9, 1.0),
        gate_eps=0.04,
        gate_mass_near_zero=0.0,
        prior_gate_mass_near_zero=0.04,
        gate_span=1.3,
        frozen_mahalanobis=400.0,
        frozen_p=1e-80,
        parameters=tuple(_param(label, **(params or {}).get(label, {})) for label in labels),
    )
    return dataclasses.replace(base, **fit)


def verdict(d: FitDiagnostics) -> tuple[str, str]:
    found = cl.classify(d, cl.checks(d))
    assert found[0] in cl.VERDICTS
    return found


def test_healthy_fit_is_identified():
    assert verdict(made_up()) == ("identified", "no check fired")


def test_arviz_stats_chain_rank_p_is_shown_not_decided_on():
    d = made_up(params={"a[0]": {"chain_rank_p": 1e-9}})
    assert verdict(d) == ("identified", "no check fired")
    assert d.table().loc["a[0]", "chain_rank_p"] == 1e-9


def test_gate_near_zero_with_an_uncontracted_prompt_is_vanishing():
    d = made_up(gate_mass_near_zero=0.9, params={"nu": {"contraction": 0.2}})
    assert verdict(d)[0] == "prompt vanishing"
    assert "nu did not contract" in verdict(d)[1]


def test_gate_near_zero_with_a_contracted_prompt_is_only_weak():
    assert verdict(made_up(gate_mass_near_zero=0.9)) == ("weakly identified", "checks fired: gate_mass_near_zero")


@pytest.mark.parametrize("collapse", [{"params": {"lam": {"contraction": 0.1}}}, {"gate_mass_near_zero": 0.99}])
def test_collapsed_gate_with_the_prompt_on_the_frozen_expert_is_merging(collapse):
    d = made_up(distinguishable=False, frozen_p=0.9, **collapse)
    assert verdict(d)[0] == "prompt merging"
    # the same numbers where the spec cannot merge, or with the prompt off the frozen expert: not merging
    assert verdict(dataclasses.replace(d, distinguishable=True))[0] != "prompt merging"
    assert verdict(dataclasses.replace(d, frozen_p=1e-5))[0] != "prompt merging"


def test_merging_is_tested_before_vanishing():
    d = made_up(distinguishable=False, frozen_p=0.9, gate_mass_near_zero=0.99, params={"a[0]": {"contraction": 0.0}})
    assert verdict(d)[0] == "prompt merging"
    assert verdict(dataclasses.replace(d, frozen_p=1e-5))[0] == "prompt vanishing"


@pytest.mark.parametrize(
    ("check", "fit", "params"),
    [
        ("prompt_contraction", {}, {"a[1]": {"contraction": 0.5}}),
        ("gate_contraction", {}, {"lam": {"contraction": 0.5}}),
        ("rhat", {}, {"b": {"rhat": 1.05}}),
        ("ess_bulk", {}, {"b": {"ess_bulk": 150.0}}),
        ("ess_tail", {}, {"nu": {"ess_tail": 150.0}}),
        ("divergences", {"divergences": 3}, {}),
        ("bfmi", {"bfmi": (1.0, 0.2, 1.0, 1.0)}, {}),
        ("chain_p", {}, {"lam": {"chain_p": 1e-4}}),
        ("bimodality", {}, {"a[0]": {"bimodality": 0.7}}),
        ("funnel", {"gate_span": 10.0}, {"b": {"funnel_corr": -0.95, "funnel_ratio": 2.0}}),
        ("map_distance", {}, {"nu": {"map_distance": 3.0}}),
    ],
)
def test_each_problem_alone_makes_a_fit_weakly_identified(check, fit, params):
    d = made_up(params=params, **fit)
    assert verdict(d) == ("weakly identified", f"checks fired: {check}")
    fired = {c.name: c for c in cl.checks(d) if c.fired}
    assert set(fired) == {check}
    assert fired[check].where == (next(iter(params)) if params else "")


def test_weak_funnel_or_nan_numbers_do_not_fire():
    uncorrelated = made_up(gate_span=10.0, params={"b": {"funnel_corr": 0.2, "funnel_ratio": 3.0}})
    narrow_gate = made_up(gate_span=1.5, params={"b": {"funnel_corr": -0.99, "funnel_ratio": 1.5}})
    flat_priors = made_up(params={k: {"contraction": np.nan} for k in ("lam", "a[0]", "a[1]", "b", "nu")})
    for d in (uncorrelated, narrow_gate, flat_priors):
        assert verdict(d)[0] == "identified"


def test_report_is_immutable_renders_and_tabulates():
    d = made_up(gate_mass_near_zero=0.9, params={"nu": {"contraction": 0.2}})
    found = cl.checks(d)
    report = cl.CollapseReport(*cl.classify(d, found), found, d)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.verdict = "identified"  # type: ignore[misc]
    row = report.to_dict()
    assert row["verdict"] == "prompt vanishing" and row["gate_mass_near_zero"] == 0.9
    assert row["prompt_contraction_where"] == "nu" and row["prompt_contraction_fired"] is True
    assert row["rhat_fired"] is False and set(cl.PROBLEMS) <= set(row)
    text = str(report)
    assert text.startswith("verdict: prompt vanishing")
    assert sum(line.endswith(" crossed") for line in text.splitlines()) == 2  # gate mass, prompt contraction
    assert "a[1]" in text and "a[1]" not in report.render(parameters=False).split("where")[-1]


# ----------------------------------------------------------------------------------------------
# real small fits (d = 2, n = 1000, 2 chains x 300 draws, started at the truth)
# ----------------------------------------------------------------------------------------------

E1, E2 = np.eye(2)
FROZEN = {"mean": "linear", "weight": (1.0, 0.0), "bias": 0.0, "nu": 0.1}
GAUSSIAN = ModelSpec(FrozenExpert("gaussian", **FROZEN))
STUDENT = ModelSpec(FrozenExpert("student_t", df=5.0, **FROZEN))
#: prompt within 0.01 of the frozen expert (e2 in a, 1 in b), lam* = 0.4
MERGING = merging_prompt(GAUSSIAN, {"lam": 0.4}, 0.01, 0.0, {"a": E2, "b": 1.0})
#: lam* = 0.01 with a Student-t f0: about 10 of the 1000 points come from the prompt
VANISHING = Truth({"lam": 0.01, "a": -E1 + E2, "b": 0.5, "nu": 0.1})


def small_fit(spec: ModelSpec, truth: Truth, n: int = 1000, seed: int = 0):
    params = truth.at(spec, n)
    x, y = simulate(jax.random.PRNGKey(seed), spec, params, n)
    nuts = fit_nuts(spec, x, y, key=seed, num_warmup=300, num_samples=300, num_chains=2, init=params)
    return to_datatree(spec, x, y, nuts=nuts, truth=params, log_likelihood=False)


@pytest.fixture(scope="module")
def merging_fit():
    return small_fit(GAUSSIAN, MERGING)


@pytest.fixture(scope="module")
def vanishing_fit():
    return small_fit(STUDENT, VANISHING)


def test_distinguishable_control_is_identified(distinguishable_fit):
    f = distinguishable_fit
    dt = to_datatree(f.spec, f.x, f.y, nuts=f.nuts, estimates=[f.mle, f.map], truth=f.truth, log_likelihood=False)
    report = cl.collapse_report(dt)
    assert report.verdict == "identified", report
    assert all(p.contraction > 0.95 for p in report.diagnostics.parameters)
    assert np.isfinite(report.to_dict()["map_distance"])


def test_merging_fit_is_prompt_merging(merging_fit):
    report = cl.collapse_report(merging_fit)
    assert report.verdict == "prompt merging", report
    assert report.diagnostics.frozen_p > 0.1


def test_vanishing_fit_is_prompt_vanishing(vanishing_fit):
    report = cl.collapse_report(vanishing_fit)
    assert report.verdict == "prompt vanishing", report
    assert report.diagnostics.gate_mass_near_zero > 0.9


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------


def test_collapse_command_prints_the_report(merging_fit, tmp_path, capsys):
    path = save(merging_fit, tmp_path / "merging.nc")
    assert main(["collapse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "verdict: prompt merging" in out and "frozen_p" in out and "contraction_scale" in out
    assert main(["collapse", str(path), "--brief"]) == 0
    assert "contraction_scale" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "argv", "field"),
    [
        (None, [], "path"),
        ("no posterior", [], "result"),
        ("merging", ["--eps", "1.5"], "eps"),
        ("merging", ["--eps", "x"], "arguments"),
    ],
)
def test_collapse_command_bad_input_is_one_line(make, argv, field, merging_fit, tmp_path, capsys):
    path = tmp_path / "r.nc"
    if make == "merging":
        save(merging_fit, path)
    elif make == "no posterior":
        x, y = merging_fit["constant_data"]["x"].values, merging_fit["observed_data"]["y"].values
        save(to_datatree(GAUSSIAN, x, y), path)
    assert main(["collapse", str(path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: {field}"), err
