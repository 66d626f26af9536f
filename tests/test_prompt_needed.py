"""Is a prompt needed? The evidence fit stores, the verdicts it leads to, the frozen baseline, what a report says."""

from __future__ import annotations

import dataclasses
import runpy
from pathlib import Path

import arviz as az
import pytest
from helpers import key, quiet_fit, ref_frozen_dist, ref_frozen_mean
from helpers import seed as shifted

from bayescmoe.diagnostics.collapse import collapse_report
from bayescmoe.diagnostics.predictive import LOO_GAIN_NEEDED, frozen_baseline, prompt_evidence
from bayescmoe.model.simulate import simulate
from bayescmoe.results.datatree import data_of, load, save
from bayescmoe.results.evidence import Evidence, stored_evidence
from bayescmoe.results.tables import describe
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.prompt_needed import design
from bayescmoe.studies.singular import SingularReport

ROOT = Path(__file__).parents[1]
CHAINS = Chains(300, 300, 2)


def fitted(name: str, share_truth: dict | None = None, n: int = 300, seed: int = 0):
    """A fit of a design setting (studies.prompt_needed), optionally with another truth."""
    spec, truth = design()[name]
    truth = {**truth, **(share_truth or {})}
    x, y = simulate(key(seed), spec, truth, n)
    return quiet_fit(
        spec, x, y, methods=("map", "nuts"), key=shifted(seed), predictive=False, progress_bar=False, **CHAINS._asdict()
    )


@pytest.fixture(scope="module")
def no_prompt():
    return fitted("gaussian-constant-none")


@pytest.mark.slow
def test_evidence_round_trips_through_a_saved_result(no_prompt, tmp_path):
    evidence = stored_evidence(no_prompt)
    assert evidence.criterion == "savage-dickey" and evidence.threshold == 1.0 and evidence.se > 0
    assert stored_evidence(load(save(no_prompt, tmp_path / "r.nc"))) == evidence
    assert f"evidence for a prompt: {evidence.render()}" in describe(no_prompt)
    assert Evidence("loo", 3.0, 1.0, 4.0).needed is False and Evidence("loo", 5.0, 1.0, 4.0).needed is True


@pytest.mark.slow
def test_data_from_f0_alone_need_no_prompt(no_prompt):
    """Savage-Dickey's Occam factor puts log BF well below 1 (about -5 at n = 300). From the posterior alone the
    collapse is determined, not its kind: with a Gaussian f0 of the prompt's structure a vanished prompt and one
    on f0 are the same density, and whether the few draws that give the prompt weight sit on f0 is chance."""
    report = collapse_report(no_prompt)
    assert report.verdict == "prompt not needed" and not report.evidence.needed
    alone = collapse_report(no_prompt, evidence=None).verdict
    assert alone in ("prompt vanishing or merging", "prompt vanishing", "prompt merging")
    rendered = report.render()
    assert "crossed; not decisive alone" in rendered  # prompt_observations crossed, the evidence decided
    assert "evidence: log Bayes factor (savage-dickey)" in rendered


@pytest.mark.slow
def test_savage_dickey_and_loo_agree_that_a_real_prompt_is_needed():
    dt = fitted("gaussian-constant-moderate", {"lam": 0.3})
    for criterion in ("savage-dickey", "loo"):
        assert prompt_evidence(dt, criterion).needed, criterion
    assert collapse_report(dt).verdict != "prompt not needed"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "needed"), [("laplace-sigmoid-none", False), ("laplace-sigmoid-moderate", True)])
def test_the_sigmoid_gate_decides_by_loo(name, needed):
    dt = fitted(name, {"tau": 0.0} if needed else None)  # a real prompt: half the data
    evidence = stored_evidence(dt)
    assert evidence.criterion == "loo" and evidence.threshold >= LOO_GAIN_NEEDED
    assert evidence.needed is needed
    assert (collapse_report(dt).verdict == "prompt not needed") is not needed


@pytest.mark.slow
def test_frozen_baseline_compares_in_one_line(no_prompt):
    baseline = frozen_baseline(no_prompt)
    inputs, y = data_of(no_prompt)
    spec = design()["gaussian-constant-none"][0]
    exact = ref_frozen_dist(spec, ref_frozen_mean(spec, inputs)).logpdf(y)
    assert baseline.elpd == pytest.approx(exact.sum(), rel=1e-12) and baseline.p == 0.0
    table = az.compare({"frozen": baseline, "contaminated": no_prompt})
    assert set(table.index) == {"frozen", "contaminated"} and table.loc["frozen", "p"] == 0.0  # (rounded for display)


def test_a_learning_coefficient_above_k_half_is_commented():
    fields = {f.name: 0.0 for f in dataclasses.fields(SingularReport)}
    fields |= {"n": 100, "k": 10, "llc_chains": (), "mle_stop_reason": "gradient", "verdict": "identified"}
    fields |= {"num_temperatures": 8, "divergences": 0}
    regular = SingularReport(**{**fields, "llc": 5.1, "llc_se": 0.1})
    above = SingularReport(**{**fields, "llc": 7.26, "llc_se": 0.2})
    assert regular.llc_comment() == "" and "above k/2" not in regular.render()
    assert "never exceeds k/2" in above.render()


@pytest.mark.slow
def test_the_design_answers_not_needed_without_a_prompt(tmp_path, capsys):
    """analyses/prompt_needed.py --quick: f0 alone under a constant and a sigmoid gate, answered "not needed"."""
    script = runpy.run_path(str(ROOT / "analyses" / "prompt_needed.py"))
    assert script["main"](["--quick", "--seed", str(shifted(0)), "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    rows = [line.split() for line in printed.splitlines() if line.startswith("gaussian-")]
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("gaussian-constant-none", "savage-dickey", "1.00"),
        ("gaussian-sigmoid-none", "loo", "1.00"),
    ]
