"""How many prompts (bayescmoe.studies.prompts, `bayescmoe prompts`, analyses/choose_prompts.py)."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import key, raises_field, seed
from scipy import stats

from bayescmoe.cli import main
from bayescmoe.errors import FitWarning
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.prompts import CHOICE_DESIGN, choice_design, choose_prompts, picks_of, require_choice

ROOT = Path(__file__).parents[1]
SMALL = {"num_warmup": 150, "num_samples": 150, "num_chains": 2}


def test_bad_choices_are_refused_before_any_fit():
    _, fitted = choice_design(["k1"])
    raises_field("criteria", require_choice, fitted, 2, ["loo", "bic"])
    raises_field("criteria", require_choice, fitted, 2, [])
    raises_field("max_prompts", require_choice, fitted, 0, ["loo"])
    raises_field("priors", require_choice, fitted.with_priors("flat"), 2, ["wbic"])
    raises_field("settings", choice_design, ["k7"])
    assert require_choice(fitted.with_priors("flat"), 2, ["loo", "llc"]) == ("loo", "llc")


def test_picks_follow_each_criterion():
    table = pd.DataFrame(
        {
            "elpd_loo": [-100.0, -50.0, -49.0],
            "elpd_diff": [-51.0, -1.0, 0.0],
            "dse": [5.0, 1.5, 0.0],
            "wbic": [100.0, 60.0, 61.0],
            "free_energy": [100.0, 59.0, 58.0],
            "log_evidence": [-100.0, -58.0, -59.0],
        },
        index=pd.Index([0, 1, 2], name="K"),
    )
    picks = picks_of(table, ["loo", "loo-2se", "wbic", "llc", "evidence"])
    assert picks == {"loo": 2, "loo-2se": 1, "wbic": 1, "llc": 2, "evidence": 1}


@pytest.mark.slow
def test_choose_prompts_scores_the_frozen_expert_exactly_and_finds_a_strong_prompt():
    settings, fitted = choice_design(["k1"])
    spec, truth = settings["k1"]
    x, y = simulate(key(3), spec, truth, 300)
    x, y = np.asarray(x), np.asarray(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        choice = choose_prompts(fitted, x, y, max_prompts=2, key=seed(4), progress_bar=False, **SMALL)
    table = choice.table
    assert list(table.index) == [0, 1, 2] and len(choice.results) == 2
    assert list(table["params"]) == [0, 5, 10]
    # K = 0: the frozen expert N(x1 - 0.5 x2, 0.25), no parameter: every criterion is its log-likelihood
    frozen = stats.norm.logpdf(y, x[:, 0] - 0.5 * x[:, 1], 0.5).sum()
    np.testing.assert_allclose(table.loc[0, ["elpd_loo", "log_evidence"]].to_numpy(float), frozen, rtol=1e-12)
    np.testing.assert_allclose(table.loc[0, ["wbic", "free_energy"]].to_numpy(float), -frozen, rtol=1e-12)
    assert table.loc[0, "llc"] == 0
    # a prompt with 30% of the data, 2.5 noise sds away: every criterion prefers K >= 1 by a wide margin
    assert table.loc[1, "elpd_loo"] > frozen + 50 and table.loc[1, "wbic"] < -frozen - 50
    assert all(k >= 1 for k in choice.picks.values()), choice.picks
    # the learning coefficient of K = 1 (5 parameters, a regular fit) sits near k/2 = 2.5
    assert 0.5 < table.loc[1, "llc"] < 2.5 + 4 * table.loc[1, "llc_se"] + 1.0
    assert "K picked by each criterion" in choice.render()


def test_the_prompts_command_refuses_bad_input_before_work(tmp_path, capsys):
    config = str(ROOT / "models" / "configs" / "two-prompts.toml")
    assert main(["prompts", "--config", config, "--criteria", "bic"]) == 2
    assert main(["prompts", "--config", config, "--max-prompts", "0"]) == 2
    assert main(["prompts", "--config", config, "--out", str(tmp_path / "t.txt")]) == 2
    assert main(["prompts"]) == 2
    err = capsys.readouterr().err
    assert "criteria" in err and "max_prompts" in err and ".csv" in err and "setting" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_prompts_command_writes_its_table(tmp_path, capsys):
    config = str(ROOT / "models" / "configs" / "two-prompts.toml")
    out = tmp_path / "table.csv"
    sizes = ["--num-warmup", "100", "--num-samples", "100", "--num-chains", "2"]
    args = ["prompts", "--config", config, "--n", "200", "--max-prompts", "1", "--criteria", "loo", "loo-2se"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        assert main([*args, *sizes, "--seed", str(seed(5)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "K picked by each criterion: loo" in printed
    table = pd.read_csv(out, index_col="K")
    assert list(table.index) == [0, 1] and {"elpd_loo", "elpd_diff", "dse"} <= set(table.columns)


@pytest.mark.slow
def test_the_pick_rate_study_runs_and_resumes(tmp_path, capsys):
    script = runpy.run_path(str(ROOT / "analyses" / "choose_prompts.py"))
    argv = ["--quick", "--seed", str(seed(0)), "--out", str(tmp_path), "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        assert script["main"](argv) == 0
    first = capsys.readouterr().out
    assert "k1" in first and "1 cells" in first
    assert script["main"](argv) == 0  # resumed: nothing left to fit, the same table
    again = capsys.readouterr().out
    assert again.splitlines()[:-1] == first.splitlines()[:-1]
    assert set(CHOICE_DESIGN) >= {"k0", "k1", "k2-distinct", "k2-close"}


def test_the_design_truths_have_the_prompts_they_say():
    settings, _ = choice_design()
    for name, (_, truth) in settings.items():
        assert int(np.sum(np.asarray(truth["lam"]) > 0)) == CHOICE_DESIGN[name][0]
