"""Every models/ script runs end to end at a tiny size and writes a loadable, complete result."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import seed

from bayescmoe.cli import main
from bayescmoe.model.settings import SETTINGS, get_setting
from bayescmoe.results import datatree as results

MODELS = sorted((Path(__file__).parents[1] / "models").glob("*.py"))
TINY = ["--n", "300", "--num-warmup", "40", "--num-samples", "40", "--num-chains", "2", "--no-predictive"]
TINY += ["--seed", str(seed(0))]


def test_one_script_per_setting_each_with_its_equation():
    assert {p.stem.replace("_", "-") for p in MODELS} == set(SETTINGS)
    for path in MODELS:
        doc = runpy.run_path(str(path))["__doc__"]
        assert "p(y | x) =" in doc and "python models/" in doc


@pytest.mark.slow
@pytest.mark.parametrize("script", MODELS, ids=lambda p: p.stem)
def test_script_runs_at_tiny_size(script, tmp_path, monkeypatch, capsys):
    plots = [] if script.stem == "p1_family" else ["--no-plots"]
    monkeypatch.setattr(sys, "argv", [str(script), *TINY, "--out", str(tmp_path), *plots])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(script), run_name="__main__")
    assert stop.value.code == 0
    printed = capsys.readouterr().out
    for column in ("truth", "MLE +/- s.e.", "MAP", "posterior mean +/- sd", "R-hat", "ESS bulk"):
        assert column in printed
    name = script.stem.replace("_", "-")
    dt = results.load(tmp_path / f"{name}.nc")
    assert dt.attrs["setting"] == name and dt.attrs["n"] == 300
    assert dt["posterior"].sizes == {"chain": 2, "draw": 40, "feature": 8}
    assert {"mle", "map", "truth", "log_likelihood"} <= set(dt.children)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ([f"{name}-pair.png", f"{name}-trace.png"] if not plots else [])


def _script(path: Path) -> dict:
    """The script's namespace without running its main (``SPEC``, ``truth``, ``NAME``)."""
    return runpy.run_path(str(path))


@pytest.mark.parametrize("script", MODELS, ids=lambda p: p.stem)
def test_script_spec_and_truth_equal_the_registry(script):
    ns = _script(script)
    setting = get_setting(ns["NAME"])
    assert ns["NAME"] == script.stem.replace("_", "-")
    assert ns["SPEC"] == setting.spec
    for n in (300, 1000, 2000, 12345, 100000):
        written, registered = ns["truth"](n), setting.truth.at(setting.spec, n)
        assert set(written) == set(registered)
        for name, value in registered.items():
            np.testing.assert_allclose(np.asarray(written[name], dtype=float), value, rtol=1e-13, atol=0)


@pytest.mark.slow
def test_script_and_the_fit_command_give_the_same_result(tmp_path, monkeypatch, capsys):
    script = MODELS[0]
    name = script.stem.replace("_", "-")
    monkeypatch.setattr(sys, "argv", [str(script), *TINY, "--out", str(tmp_path / "script"), "--no-plots"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(script), run_name="__main__")
    assert main(["fit", name, *TINY, "--out", str(tmp_path / "cli"), "--no-plots"]) == 0
    a, b = results.load(tmp_path / "script" / f"{name}.nc"), results.load(tmp_path / "cli" / f"{name}.nc")
    for group in ("mle", "map", "truth", "posterior"):
        xr.testing.assert_allclose(a[group].to_dataset(), b[group].to_dataset(), rtol=1e-12)
