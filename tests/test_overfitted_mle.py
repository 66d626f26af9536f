"""An extra prompt for the MLE (bayescmoe.studies.overfitted_mle, analyses/overfitted_mle.py): the Voronoi loss on
hand-computed cases, the three forms of the truth, the quick run."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import key, seed

from bayescmoe.errors import BayescmoeError, FitWarning
from bayescmoe.inference.optimize import log_likelihood_and_prior
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.overfitted_mle import DESIGNS, FORMS, GROUPS, atoms, truth_forms, voronoi_loss
from bayescmoe.studies.prompts import choice_design

ROOT = Path(__file__).parents[1]
#: f0's atom (a0, b0, nu0) and the true prompt's of the design
THETA0 = np.array([1.0, -0.5, 0.0, 0.25])
THETA = np.array([0.5, 0.5, 1.0, 0.1])


def loss(lam, theta, form="generic"):
    return voronoi_loss(lam, theta, [0.3], [THETA], THETA0, form=form)


@pytest.mark.parametrize("form", FORMS)
def test_an_exact_fit_and_an_emptied_prompt_lose_nothing(form):
    exact = loss([0.3], [THETA], form)
    assert exact.total == 0.0 and exact.sizes == (1, 1) and exact.cells == (1,)
    far = THETA + np.array([0.0, 0.0, 5.0, 0.0])  # an emptied extra prompt, off in b: weight 0, no loss
    emptied = loss([0.3, 0.0], [THETA, far], form)
    assert emptied.total == 0.0 and emptied.sizes == (1, 2)


def test_a_singleton_cell_counts_its_weight_and_distance_to_the_first_power():
    d = np.array([0.03, -0.04, 0.0, 0.0])  # ||d|| = 0.05
    result = loss([0.35], [THETA + d])
    assert result.weight == pytest.approx(0.05 + 0.05)  # f0's 0.65 against 0.7, the prompt's 0.35 against 0.3
    assert result.params == pytest.approx((0.0, 0.35 * 0.05))
    assert result.total == pytest.approx(0.1 + 0.35 * 0.05)


def test_a_split_prompt_counts_second_or_r_bar_powers():
    """The real prompt split in two (weights 0.1 + 0.2 = 0.3): its cell holds 2 atoms, r_bar = 4."""
    d1, d2 = np.array([0.1, 0.0, 0.0, 0.02]), np.array([0.0, -0.2, 0.0, -0.04])
    theta = [THETA + d1, THETA + d2]
    generic, sharp = loss([0.1, 0.2], theta), loss([0.1, 0.2], theta, "sharp")
    assert generic.sizes == sharp.sizes == (1, 2) and generic.weight == sharp.weight == pytest.approx(0.0, abs=1e-15)
    assert generic.params[1] == pytest.approx(0.1 * (0.01 + 0.0004) + 0.2 * (0.04 + 0.0016))
    assert sharp.params[1] == pytest.approx(0.1 * (0.1**4 + 0.02**2) + 0.2 * (0.2**4 + 0.04**2))
    assert generic.params[0] == sharp.params[0] == 0.0


def test_f0_counts_as_an_atom_of_its_own_cell():
    """An extra prompt near f0 (weight 0.05, f0 keeps 0.65): f0's cell holds 2 atoms, their weights add to w0*."""
    d = np.array([0.0, 0.1, 0.0, 0.05])
    result = loss([0.3, 0.05], [THETA, THETA0 + d], "sharp")
    assert result.sizes == (2, 1) and result.cells == (1, 0)
    assert result.weight == pytest.approx(0.0, abs=1e-15)
    assert result.params == pytest.approx((0.05 * (0.1**4 + 0.05**2), 0.0))
    both = loss([0.05, 0.05], [THETA0 + d, THETA0 - d], "sharp")  # the real prompt's cell empty: m = 3 at f0
    assert both.sizes == (3, 0) and both.weight == pytest.approx(0.3 + 0.3)
    assert both.params == pytest.approx((2 * 0.05 * (0.1**6 + 0.05**3), 0.0))


def test_refusals_name_their_field():
    with pytest.raises(BayescmoeError) as err:
        loss([0.3], [THETA], form="wasserstein")
    assert err.value.field == "form"
    with pytest.raises(BayescmoeError) as err:  # three prompts on f0: r_bar(4) is not known
        loss([0.01] * 3, [THETA0] * 3, "sharp")
    assert err.value.field == "theta"


@pytest.mark.parametrize("design", list(DESIGNS))
def test_the_three_forms_of_the_truth_give_the_datas_distribution(design):
    """With one prompt more than the design holds: emptied, split and copying f0, each the data's likelihood."""
    settings, one_prompt = choice_design([design])
    spec, truth = settings[design]
    fitted = one_prompt.with_prompts(DESIGNS[design] + 1).with_priors("flat")
    x, y = simulate(key(0), spec, truth, 300)
    expected = float(log_likelihood_and_prior(spec.with_priors("flat"), truth, x, y)[0])
    forms = truth_forms(truth, spec.frozen.params())
    assert [np.count_nonzero(form["lam"]) for form in forms] == [DESIGNS[design], *[DESIGNS[design] + 1] * 2]
    values = [float(log_likelihood_and_prior(fitted, form, x, y)[0]) for form in forms]
    assert values == pytest.approx([expected] * 3, rel=1e-12)
    assert np.allclose(atoms(forms[2])[-1], THETA0) and np.allclose(atoms(forms[1])[:2], THETA)


@pytest.mark.slow
def test_the_quick_study_never_ends_below_the_truth(tmp_path, capsys):
    script = runpy.run_path(str(ROOT / "analyses" / "overfitted_mle.py"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        code = script["main"](
            ["--quick", "--seed", str(seed(0)), "--out", str(tmp_path), "--no-progress", "--n-boot", "50"]
        )
    assert code == 0
    ds = xr.open_dataset(tmp_path / "overfitted-mle.nc")
    done = ds["done"].values == 1
    assert done.all() and not ds["below_truth"].values.any()
    assert np.all(ds["loglik_hat"] >= ds["loglik_true"] - 1e-6 * ds["n"])
    assert np.all(ds["nu"] > 0.025) and set(np.unique(ds["cell"])) <= {0.0, 1.0}
    assert np.all(ds["size_f0"] + ds["size_prompt"] == 3)  # f0 and the two prompts
    for form in FORMS:
        parts = ds["err_weight"] + ds[f"err_prompt_{form}"] + ds[f"err_f0_{form}"]
        np.testing.assert_allclose(ds[f"err_total_{form}"], parts)
    assert all(np.all(ds[f"err_{g}"] >= 0) for g in GROUPS)
    # the weights' part is 2 |W - lam*|, W the real prompt's cell's weight: sd(W) about sqrt(0.3 x 0.7 / n); 6 sd
    assert np.all(ds["err_weight"] < 2 * 6 * np.sqrt(0.21 / ds["n"]))
    assert (tmp_path / "floor=0.025.png").exists() and "| floor=0.025 | weight |" in (
        tmp_path / "slopes.md"
    ).read_text()
    assert "4 fits" in capsys.readouterr().out
