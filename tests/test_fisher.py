"""Fisher information at the truth (bayescmoe/fisher.py; PAPERS.md sections 2-3) and its analysis script."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from bayescmoe.fisher import (
    cosine,
    eigen_slopes,
    fisher_information,
    gate_direction,
    merging_path,
    observed_fisher,
    path_information,
)
from bayescmoe.spec import FrozenExpert, ModelSpec

SCRIPT = Path(__file__).parents[1] / "analyses" / "fisher_paths.py"
FROZEN = {"mean": "linear", "weight": (1.0,), "bias": 0.0, "nu": 1.0}
GAUSSIAN = ModelSpec(FrozenExpert("gaussian", **FROZEN))
STUDENT = ModelSpec(FrozenExpert("student_t", df=5.0, **FROZEN))
KEY = jax.random.PRNGKey(0)


def test_score_outer_product_matches_observed_information():
    truth = {"lam": 0.3, "a": np.array([-1.0]), "b": 0.5, "nu": 0.5}
    fisher = fisher_information(STUDENT, truth, KEY, 40000)
    observed = observed_fisher(STUDENT, truth, KEY, 40000)  # same draws: the difference has mean 0
    scale = np.sqrt(np.outer(np.diag(fisher.matrix), np.diag(fisher.matrix)))
    np.testing.assert_allclose(fisher.matrix / scale, observed.matrix / scale, atol=0.06)
    assert fisher.labels == ("a[0]", "b", "lam", "nu") and np.all(np.diff(fisher.eigenvalues) >= 0)


def test_prompt_block_is_the_gaussian_information_when_lam_is_near_one():
    nu = 0.5
    info = fisher_information(GAUSSIAN, {"lam": 1 - 1e-9, "a": np.array([2.0]), "b": -1.0, "nu": nu}, KEY, 40000)
    block = info.matrix[np.ix_([0, 1, 3], [0, 1, 3])]  # a, b, nu; x ~ N(0, 1): E[x^2] = 1, E[x] = 0
    np.testing.assert_allclose(block, np.diag([1 / nu, 1 / nu, 1 / (2 * nu**2)]), rtol=0.05, atol=0.05)


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


def test_script_quick_writes_dataset_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--quick", "--num-samples", "2000", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert stop.value.code == 0
    assert "| merging | 0 |" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "fisher.nc", engine="h5netcdf") as ds:
        assert ds["information"].dims == ("path", "delta", "param", "param2")
        assert list(ds["path"].values) == ["merging", "heat", "vanishing", "control"]
    assert (tmp_path / "fisher.png").stat().st_size > 0
