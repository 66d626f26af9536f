"""The prompt's other families in the rate protocols (analyses/rates_families*.py): cells, moves, quick runs."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import seed

from bayescmoe.model.settings import get_setting, noise_move
from bayescmoe.studies.protocols import get_protocol

ROOT = Path(__file__).parents[1]
NU0 = 0.1
#: the frozen family's scale in closed form: sd, Laplace b = sqrt(nu / 2), Student-t(5) s = sqrt(nu 3 / 5)
SCALES = {
    "p1-merging-slow": np.sqrt(NU0),
    "p1-merging-slow-t5": np.sqrt(0.6 * NU0),
    "p1-merging-slow-laplace": np.sqrt(NU0 / 2),
}


@pytest.mark.parametrize("name", sorted(SCALES))
def test_merging_cells_move_the_prompt_by_the_same_number_of_their_family_scales(name):
    setting = get_setting(name)
    assert not setting.spec.distinguishable and setting.spec.prompt.family == setting.spec.frozen.family
    s = SCALES[name]
    assert noise_move(setting.spec)["b"] == pytest.approx(s, rel=1e-12)
    frozen = setting.spec.frozen.params()
    for n in (10_000, 1_000_000):
        truth, gap = setting.truth.at(setting.spec, n), 0.7 * n ** (-1 / 8)
        np.testing.assert_allclose(truth["a"] - frozen["a"], gap * s * np.eye(8)[1], atol=1e-15)
        assert truth["b"] - frozen["b"] == pytest.approx(gap * s, rel=1e-12)
        assert truth["nu"] == pytest.approx(NU0 * (1 + gap), rel=1e-12) and truth["lam"] == 0.4


def test_family_protocols_hold_theory_only_for_the_gaussian_prompts():
    merging, distinct = get_protocol("families"), get_protocol("families-distinct")
    assert merging.n_grid == get_protocol("p1-slow").n_grid[:9] and distinct.n_grid == get_protocol("p1").n_grid
    assert set(merging.theory) == {"p1-merging-slow"} and set(distinct.theory) == {"p1-family"}
    assert merging.theory["p1-merging-slow"] == get_protocol("p1-slow").theory["p1-merging-slow"]
    assert all(get_setting(s).spec.distinguishable for s in distinct.settings)
    assert {get_setting(s).spec.prompt.family for s in distinct.settings} == {"gaussian", "laplace", "student_t"}


def _run(script: str, settings: str, out: Path, monkeypatch) -> str:
    flags = ["--quick", "--no-progress", "--n-boot", "50", "--seed", str(seed(0)), "--settings", settings]
    monkeypatch.setattr(sys, "argv", [script, *flags, "--out", str(out)])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(ROOT / "analyses" / script), run_name="__main__")
    assert stop.value.code == 0
    return (out / "slopes.md").read_text()


@pytest.mark.slow
def test_quick_scripts_fit_every_cell_above_the_truth_and_give_unproved_cells_no_verdict(tmp_path, monkeypatch):
    merging = _run("rates_families.py", "p1-merging-slow,p1-merging-slow-laplace", tmp_path / "m", monkeypatch)
    distinct = _run("rates_families_distinct.py", "p1-t5-prompt", tmp_path / "d", monkeypatch)
    rows = [line.split(" | ") for line in (merging + distinct).splitlines() if line.startswith("| p1-")]
    assert len(rows) == 6 + 6 + 4  # lam, a, a_merge, a_perp, b, nu per merging cell; lam, a, b, nu
    for row in rows:
        proved = row[0] == "| p1-merging-slow"
        assert (row[4] != "none") == proved and (row[5] != "") == proved  # theory, and its verdict
        assert row[-1] == "0 / 6 |"  # 3 sizes x 2 replicates, none below the truth's log-likelihood
    ds = xr.open_dataset(tmp_path / "m" / "sweep.nc", engine="h5netcdf").load()
    assert bool(ds["done"].all()) and not bool(ds["below_truth"].any())
    assert (tmp_path / "m" / "p1-merging-slow-laplace.png").stat().st_size > 0
    assert (tmp_path / "d" / "p1-t5-prompt.png").stat().st_size > 0
