"""Posterior geometry near a merge (bayescmoe.diagnostics.geometry) and its analysis script."""

from __future__ import annotations

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import seed
from scipy import stats

from bayescmoe.diagnostics.geometry import (
    ESTIMABLE,
    NOT_ESTIMABLE,
    derived_quantities,
    geometry_table,
    posterior_quantities,
    spread_table,
    true_quantities,
)
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.results.datatree import load, to_datatree
from bayescmoe.studies.collapse_paths import GAUSSIAN

SCRIPT = Path(__file__).parents[1] / "analyses" / "geometry.py"
TRUTH = {"lam": 0.4, "a": np.array([1.0, 0.3]), "b": 0.2, "nu": 0.15}  # frozen a0 = e1, b0 = 0, nu0 = 0.1


def fake_result(draws: dict[str, np.ndarray]) -> xr.DataTree:
    """A result DataTree whose posterior holds ``draws`` (chain, draw[, feature]): no sampler needed."""
    rng = np.random.default_rng(seed(0))
    dt = to_datatree(GAUSSIAN, rng.normal(size=(5, 2)), rng.normal(size=5), truth=TRUTH)
    dims = {"a": ("chain", "draw", "feature")}
    posterior = xr.Dataset({k: (dims.get(k, ("chain", "draw")), v) for k, v in draws.items()})
    dt["posterior"] = xr.DataTree(posterior.assign_coords(feature=[0, 1]))
    return dt


def test_derived_quantities_equal_a_hand_computation():
    rng = np.random.default_rng(seed(1))
    lam, b, nu = rng.uniform(0.1, 0.9, (2, 3)), rng.normal(size=(2, 3)), rng.uniform(0.05, 0.3, (2, 3))
    a = rng.normal(size=(2, 3, 2))
    dt = fake_result({"lam": lam, "a": a, "b": b, "nu": nu})
    got = posterior_quantities(dt)
    da = a - np.array([1.0, 0.0])
    db, dnu = b, nu - 0.1
    delta = np.sqrt((da**2).sum(-1) + db**2 + dnu**2)
    assert got["delta"].dims == ("chain", "draw") and got["da"].dims == ("chain", "draw", "feature")
    np.testing.assert_allclose(got["da"].values, da)
    np.testing.assert_allclose(got["delta"].values, delta)
    np.testing.assert_allclose(got["lam_delta"].values, lam * delta)
    np.testing.assert_allclose(got["lam_delta2"].values, lam * delta**2)
    np.testing.assert_allclose(got["lam_db"].values, lam * db)
    np.testing.assert_allclose(got["lam_heat"].values, lam * (dnu + db**2))
    np.testing.assert_allclose(got["log_lam"].values, np.log(lam))
    true = true_quantities(dt)
    assert float(true["delta"]) == pytest.approx(np.sqrt(0.3**2 + 0.2**2 + 0.05**2))
    assert float(true["lam_heat"]) == pytest.approx(0.4 * (0.05 + 0.04))


def test_spread_table_separates_a_ridge_combination_from_its_factors():
    # a posterior on the ridge lam Delta^2 = 0.02 exactly: lam and Delta spread, lam Delta^2 does not
    z = stats.norm.ppf(np.linspace(0.005, 0.995, 399))  # odd and symmetric: the median is the centre
    delta = (0.2 * np.exp(0.3 * z)).reshape(3, 133)
    params = xr.Dataset(
        {
            "lam": (("chain", "draw"), 0.02 / delta**2),
            "a": (("chain", "draw", "feature"), np.stack([1.0 + 0 * delta, delta], axis=-1)),
            "b": (("chain", "draw"), 0 * delta),
            "nu": (("chain", "draw"), 0.1 + 0 * delta),
        }
    )
    draws = derived_quantities(GAUSSIAN, params)
    truth = derived_quantities(GAUSSIAN, params.isel(chain=1, draw=66))  # the middle draw: Delta = 0.2
    table = spread_table(draws, truth, n=100, names=("lam_delta2", "lam", "delta"))
    assert list(table["kind"]) == ["estimable", "not estimable", "not estimable"]
    assert table.loc["lam_delta2", "rel_sd"] < 1e-10 and table.loc["lam_delta2", "error"] < 1e-12
    assert table.loc["delta", "median"] == pytest.approx(0.2) and table.loc["delta", "error"] == pytest.approx(
        0, abs=1e-9
    )
    sd = float(np.std(delta))
    assert table.loc["delta", "sqrt_n_sd"] == pytest.approx(10 * sd)
    assert table.loc["delta", "rel_sd"] == pytest.approx(sd / 0.2)
    width = np.quantile(delta, 0.95) - np.quantile(delta, 0.05)
    assert table.loc["delta", "rel_width"] == pytest.approx(width / 0.2)
    assert table.loc["lam", "rel_sd"] > 0.5
    assert set(ESTIMABLE).isdisjoint(NOT_ESTIMABLE)


def test_geometry_needs_a_constant_gate_and_linear_experts_with_bias():
    p2 = ModelSpec(FrozenExpert(mean="tanh", weight=(1.0, 0.0)), PromptExpert("tanh", bias=False), gate="sigmoid")
    with pytest.raises(BayescmoeError, match="constant gate"):
        derived_quantities(p2, xr.Dataset())
    with pytest.raises(BayescmoeError, match="posterior"):
        geometry_table(to_datatree(GAUSSIAN, np.zeros((3, 2)), np.zeros(3), truth=TRUTH))


@pytest.fixture(scope="module")
def script():
    loader = spec_from_file_location("geometry_script", SCRIPT)
    module = module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_script_quick_writes_results_tables_and_figures(script, tmp_path, capsys):
    assert script.main(["--quick", "--seed", str(seed(0)), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## merging-0.3" in out and "## heat-0.3" in out and "lam_delta2" in out
    with xr.open_dataset(tmp_path / "geometry.nc", engine="h5netcdf") as ds:
        assert ds["rel_sd"].dims == ("point", "quantity") and list(ds["point"].values) == ["merging-0.3", "heat-0.3"]
        assert ds.attrs["n"] == 500
    for name in ("merging-0.3", "heat-0.3"):
        dt = load(tmp_path / f"geometry-{name}.nc")
        assert dt["posterior"]["lam"].shape == (2, 150)
        for kind in ("funnel", "combinations"):
            assert (tmp_path / f"geometry-{name}-{kind}.png").stat().st_size > 0
    assert (tmp_path / "geometry-heat-0.3-ridge.png").stat().st_size > 0


def test_script_bad_flag_exits_with_one_line_and_writes_nothing(script, tmp_path, capsys):
    assert script.main(["--n", "many", "--out", str(tmp_path / "out")]) == 2
    assert script.main(["--n", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("bayescmoe: error:") for line in err)
    assert not (tmp_path / "out").exists()
