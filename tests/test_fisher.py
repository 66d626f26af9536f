"""Fisher information at the truth (bayescmoe/diagnostics/fisher.py) and its analysis script."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from helpers import key, seed

from bayescmoe.diagnostics.fisher import (
    cosine,
    fisher_information,
    gate_basis,
    gate_direction,
    observed_fisher,
    subspace_overlap,
    subspace_projection,
)
from bayescmoe.errors import BayescmoeError
from bayescmoe.inference.optimize import fit_mle
from bayescmoe.model.params import flat_labels
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.studies.fisher_paths import (
    eigen_slopes,
    family_paths,
    merging_path,
    p2_paths,
    path_information,
    predicted_sd,
    setting_path,
)
from bayescmoe.studies.losses import delta_star

SCRIPT = Path(__file__).parents[1] / "analyses" / "fisher_paths.py"
FROZEN = {"mean": "linear", "weight": (1.0,), "bias": 0.0, "nu": 1.0}
GAUSSIAN = ModelSpec(FrozenExpert("gaussian", **FROZEN))
STUDENT = ModelSpec(FrozenExpert("student_t", df=5.0, **FROZEN))
KEY = key(0)


#: Monte Carlo draws of the information tests: the s.e. of each scaled entry is at most 0.008 (measured over 40
#: keys; 0.025 at 40000 draws, where atol 0.05-0.06 was 2 to 2.4 s.e.)
MC_DRAWS = 400_000


@pytest.mark.slow
def test_score_outer_product_matches_observed_information():
    """Equal within atol 0.06, about 7 s.e. of the difference of the scaled entries."""
    truth = {"lam": 0.3, "a": np.array([-1.0]), "b": 0.5, "nu": 0.5}
    fisher = fisher_information(STUDENT, truth, KEY, MC_DRAWS)
    observed = observed_fisher(STUDENT, truth, KEY, MC_DRAWS)  # same draws: the difference has mean 0
    scale = np.sqrt(np.outer(np.diag(fisher.matrix), np.diag(fisher.matrix)))
    np.testing.assert_allclose(fisher.matrix / scale, observed.matrix / scale, atol=0.06)
    assert fisher.labels == ("a[0]", "b", "lam", "nu") and np.all(np.diff(fisher.eigenvalues) >= 0)


def _location_scale_information(family: str, nu: float, df: float = 5.0) -> tuple[float, float]:
    """Closed forms of one observation's information about the location and the variance nu of ``family``.

    Gaussian 1/nu and 1/(2 nu^2). Laplace of scale b = sqrt(nu/2): 1/b^2 (the score sign(y - mu)/b) and,
    through b, 1/b^2 (db/dnu)^2 = 1/(4 nu^2). Student-t(df) of scale s, s^2 = nu (df - 2)/df:
    (df + 1)/((df + 3) s^2) and 2 df/((df + 3) s^2) (ds/dnu)^2 = df/(2 (df + 3) nu^2).
    """
    if family == "gaussian":
        return 1 / nu, 1 / (2 * nu**2)
    if family == "laplace":
        return 2 / nu, 1 / (4 * nu**2)
    return (df + 1) / ((df + 3) * nu * (df - 2) / df), df / (2 * (df + 3) * nu**2)


@pytest.mark.parametrize("family", ["gaussian", "laplace", "student_t"])
def test_prompt_block_is_the_family_information_when_lam_is_near_one(family):
    """E[s s^T] against the closed forms, Laplace included (its Hessian would miss the location part).

    Within atol 0.05 (off the diagonal: 6 s.e.) and rtol 0.05 (on it: at least 11 s.e., the Laplace
    variance score (|z| - 1)/(2 nu) having the heaviest fourth moment, 9).
    """
    nu = 0.5
    spec = ModelSpec(
        FrozenExpert("gaussian", **FROZEN), PromptExpert(family=family, df=5.0 if family == "student_t" else None)
    )
    info = fisher_information(spec, {"lam": 1 - 1e-9, "a": np.array([2.0]), "b": -1.0, "nu": nu}, KEY, MC_DRAWS)
    block = info.matrix[np.ix_([0, 1, 3], [0, 1, 3])]  # a, b, nu; x ~ N(0, 1): E[x^2] = 1, E[x] = 0
    location, variance = _location_scale_information(family, nu)
    np.testing.assert_allclose(block, np.diag([location, location, variance]), rtol=0.05, atol=0.05)


def test_observed_fisher_refuses_a_laplace_expert():
    spec = ModelSpec(FrozenExpert("gaussian", **FROZEN), PromptExpert(family="laplace"))
    with pytest.raises(BayescmoeError, match=r"E\[s s\^T\]"):
        observed_fisher(spec, {"lam": 0.3, "a": np.array([-1.0]), "b": 0.5, "nu": 0.5}, KEY, 100)


def test_exact_merge_makes_e_lam_a_null_direction():
    merge = {"lam": 0.4, **GAUSSIAN.frozen.params()}
    info = fisher_information(GAUSSIAN, merge, KEY, 4000)
    assert info.eigenvalues[0] < 1e-12 * info.eigenvalues[-1]
    assert cosine(info.eigenvectors[:, 0], gate_direction(GAUSSIAN)) > 0.99


def test_weakest_eigenvalue_falls_monotonically_like_delta_to_the_fourth_along_a_merge():
    deltas = np.logspace(0, -2, 5)
    path = merging_path("merging", GAUSSIAN, 0.4, {"a": np.ones(1), "b": 1.0, "nu": 1.0}, deltas)
    smallest = np.array([i.eigenvalues for i in path_information(path, KEY, 4000)])
    assert np.all(np.diff(smallest[:, 0]) < 0)
    assert eigen_slopes(deltas, smallest)[0] == pytest.approx(4.0, abs=0.3)


def test_gate_basis_spans_the_gate_coordinates():
    spec = p2_paths(np.array([0.0]))[0].spec
    basis = gate_basis(spec)
    labels = np.array(flat_labels(spec))
    assert basis.shape == (6, 3) and sorted(labels[basis.argmax(axis=0)]) == ["beta[0]", "beta[1]", "tau"]
    np.testing.assert_allclose(basis.T @ basis, np.eye(3))
    assert gate_basis(GAUSSIAN).shape == (4, 1) and cosine(gate_basis(GAUSSIAN)[:, 0], gate_direction(GAUSSIAN)) == 1
    assert subspace_projection(basis[:, :1] + 0.0, basis)[0] == pytest.approx(1.0)


def test_p2_exact_merge_has_a_null_space_of_all_gate_coordinates_and_the_control_does_not():
    eta, _, control = p2_paths(np.array([0.0]))
    merge = fisher_information(eta.spec, eta.truths[0], KEY, 4000)
    k = gate_basis(eta.spec).shape[1]  # d + 1 = 3: beta and tau
    assert np.all(merge.eigenvalues[:k] < 1e-12 * merge.eigenvalues[-1])
    assert merge.eigenvalues[k] > 1e-3 * merge.eigenvalues[-1]
    assert subspace_overlap(merge.eigenvectors, gate_basis(eta.spec)) > 0.999
    assert cosine(merge.eigenvectors[:, 0], gate_direction(eta.spec)) < 0.99  # e_tau alone is not the null space
    distinct = fisher_information(control.spec, control.truths[0], KEY, 4000)
    assert distinct.eigenvalues[0] > 1e-5 * distinct.eigenvalues[-1]


def test_p2_gate_eigenvalues_fall_like_delta_squared_along_both_merges():
    deltas = np.logspace(-1.5, -3, 3)
    for path in p2_paths(deltas)[:2]:
        values = np.array([i.eigenvalues for i in path_information(path, KEY, 4000)])
        slopes = eigen_slopes(deltas, values)
        np.testing.assert_allclose(slopes[:3], 2.0, atol=0.15)
        assert np.all(np.abs(slopes[3:]) < 0.2)


@pytest.mark.slow
def test_mle_information_of_a_laplace_prompt_is_its_score_outer_product():
    """Its Hessian leaves the location block near 0 (standard errors NaN); the information of the fit is
    n E[s s^T]: the diagonal of the summed score outer products at the MLE (n = 20000) within rtol 0.15 of
    n E[s s^T] at the truth (the relative s.e. of a diagonal entry is at most sqrt(8 / n) = 2%)."""
    setting = get_setting("p1-laplace-prompt")
    n = 20_000
    truth = setting.truth.at(setting.spec, n)
    x, y = simulate(key(1), setting.spec, {k: jnp.asarray(v) for k, v in truth.items()}, n)
    fit = fit_mle(setting.spec, x, y, init=truth, key=seed(0), num_random_starts=0)
    assert fit.information_pd and all(np.all(np.isfinite(v)) for v in fit.se.values())
    fisher = fisher_information(setting.spec, truth, key(2), 200_000)
    np.testing.assert_allclose(np.diag(fit.information) / n, np.diag(fisher.matrix), rtol=0.15)


def test_a_setting_path_passes_through_the_setting_truths_and_refuses_a_cell_that_does_not_merge():
    setting = get_setting("p1-merging-slow-laplace")
    truths = [setting.truth.at(setting.spec, n) for n in (10_000, 1_000_000)]
    deltas = np.array([delta_star(setting.spec, t) for t in truths])
    path = setting_path(setting.name, deltas)
    for on_path, truth in zip(path.truths, truths, strict=True):
        assert on_path.keys() == truth.keys()
        for name in truth:
            np.testing.assert_allclose(on_path[name], truth[name], rtol=1e-12, atol=1e-15)
    with pytest.raises(BayescmoeError, match="not a merging cell"):
        setting_path("p1-t5-prompt", deltas)


def test_weakest_eigenvalue_falls_like_delta_to_the_fourth_for_smooth_families_and_the_third_for_laplace():
    """Student-t like Gaussian (Delta^4: the expansion needs two derivatives only); Laplace's kink gives Delta^3.

    Tolerances: over 4 keys at these 20000 draws the slopes spread 3.89-3.93 (smooth) and 2.71-3.04
    (Laplace) at 4000 draws; the control stays bounded away from 0.
    """
    deltas = np.logspace(-1, -3, 5)
    slopes = {}
    for path in family_paths(deltas):
        values = np.array([i.eigenvalues for i in path_information(path, KEY, 20_000)])
        slopes[path.name] = eigen_slopes(deltas, values)
        assert np.all(np.abs(slopes[path.name][1:]) < 0.2)  # only the gate direction collapses
    assert slopes["p1-merging-slow"][0] == pytest.approx(4.0, abs=0.25)
    assert slopes["p1-merging-slow-t5"][0] == pytest.approx(4.0, abs=0.25)
    assert slopes["p1-merging-slow-laplace"][0] == pytest.approx(3.0, abs=0.35)
    assert abs(slopes["control"][0]) < 0.2


def test_predicted_sd_falls_like_root_n_at_a_fixed_truth_and_slower_for_the_gate_of_a_merging_cell():
    grid = (10_000, 100_000)
    fixed = predicted_sd("p1-t5-prompt", grid, KEY, 4000)  # the truth does not move with n
    assert set(fixed) == {"lam", "a", "b", "nu"}
    for sd in fixed.values():
        assert sd[1] / sd[0] == pytest.approx(10**-0.5, rel=1e-9)
    merging = predicted_sd("p1-merging-slow-laplace", grid, KEY, 4000)
    np.testing.assert_allclose(np.hypot(merging["a_merge"], merging["a_perp"]), merging["a"], rtol=1e-12)
    assert merging["a_perp"][1] / merging["a_perp"][0] == pytest.approx(10**-0.5, rel=0.05)
    assert merging["lam"][1] / merging["lam"][0] > 10**-0.4  # slowed: a slope above -0.4


@pytest.mark.slow
def test_script_quick_writes_dataset_and_figure(tmp_path, monkeypatch, capsys):
    argv = [str(SCRIPT), "--quick", "--num-samples", "2000", "--seed", str(seed(0)), "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "| p1 | merging | 0 |" in out and "| p2 | eta | 0 |" in out
    with xr.open_datatree(tmp_path / "fisher.nc", engine="h5netcdf") as tree:
        assert tree["p1"]["information"].dims == ("path", "delta", "param", "param2")
        assert list(tree["p1"]["path"].values) == ["merging", "heat", "vanishing", "control"]
        assert list(tree["p2"]["path"].values) == ["eta", "nu", "control"]
        assert list(tree["families"]["path"].values)[-1] == "control" and tree["families"].sizes["param"] == 11
        rates = tree["families_rates"]
        assert rates["predicted_slope"].dims == ("setting", "group") and rates.sizes["n"] == 9
        assert tree["p2"]["gate_projection"].dims == ("path", "delta", "rank") and "cos_heat" not in tree["p2"]
    assert (tmp_path / "fisher.png").stat().st_size > 0


def test_script_rejects_an_unknown_paper_in_one_line(tmp_path, capsys):
    from importlib.util import module_from_spec, spec_from_file_location

    loader = spec_from_file_location("fisher_paths", SCRIPT)
    module = module_from_spec(loader)
    loader.loader.exec_module(module)
    assert module.main(["--paper", "p3", "--out", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not any(tmp_path.iterdir())
    for bad in ("1e4,x", "1e6,1e4,5"):  # refused before any information is computed
        assert module.main(["--paper", "classify", "--rate-sizes", bad, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("bayescmoe: error: sizes") and not any(tmp_path.iterdir())
