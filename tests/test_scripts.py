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
from bayescmoe.model.likelihood import log_likelihood
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
    spec = get_setting(name).spec
    prompts = {"prompt": spec.num_prompts} if spec.num_prompts > 1 else {}
    classes = {"class": spec.classes - 1} if spec.categorical else {}
    assert dt["posterior"].sizes == {"chain": 2, "draw": 40, "feature": spec.dim, **prompts, **classes}
    assert {"mle", "map", "truth", "log_likelihood"} <= set(dt.children)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ([f"{name}-pair.png", f"{name}-trace.png"] if not plots else [])


@pytest.mark.parametrize("script", MODELS, ids=lambda p: p.stem)
def test_script_takes_its_model_from_the_registry(script):
    """One definition per setting: the script names its setting and defines no spec or truth of its own."""
    ns = runpy.run_path(str(script))
    assert ns["SETTING"] is get_setting(script.stem.replace("_", "-"))
    source = script.read_text()
    assert "ModelSpec(" not in source and "Truth(" not in source and "def truth" not in source


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


@pytest.mark.slow
def test_the_numpyro_example_samples_the_package_model():
    """examples/numpyro_mcmc.py: NumPyro's MCMC on bayescmoe's model; ArviZ's pointwise log-likelihood is ours."""
    example = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "numpyro_mcmc.py"))
    sizes = ["--n", "200", "--num-warmup", "50", "--num-samples", "30", "--num-chains", "2"]
    dt = example["main"]([*sizes, "--seed", str(seed(0))])
    spec = get_setting("p1-family").spec
    assert dt["posterior"].sizes == {"chain": 2, "draw": 30, "feature": 8}
    assert dt["posterior_predictive"]["y"].shape == (2, 30, 200)
    x, y = dt["constant_data"]["x"].values, dt["observed_data"]["y"].values
    for chain, draw in ((0, 0), (1, 29)):
        point = {k: dt["posterior"][k].values[chain, draw] for k in spec.param_names}
        ours = np.asarray(log_likelihood(spec, point, x, y))
        # absolute too: a log density near 0 is a difference of O(1) terms, exact only to their rounding
        np.testing.assert_allclose(dt["log_likelihood"]["y"].values[chain, draw], ours, rtol=1e-12, atol=1e-12)
