"""The rate protocol of classification (analyses/rates_classify.py; docs/classification.md: *Rates: homogeneous
against heterogeneous adapters*): the error groups of an adapter, its cells' truths, and a quick run."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr
from helpers import seed

from bayescmoe.diagnostics.fisher import gate_basis, subspace_overlap
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.settings import C1_DISTINCT, C1_MERGE, get_setting
from bayescmoe.studies.fisher_paths import classify_paths, eigen_slopes, path_information
from bayescmoe.studies.losses import error_groups, group_errors, merge_direction
from bayescmoe.studies.protocols import CLASSIFY_DISTINCT, CLASSIFY_MERGES, Protocol, get_protocol
from bayescmoe.studies.sweep import SweepConfig, new_dataset

ROOT = Path(__file__).parents[1]


def test_error_groups_of_an_adapter_have_no_nu_and_those_of_a_regression_are_unchanged():
    assert error_groups(get_setting("classify-distinct-constant").spec) == ("lam", "a", "b")
    assert error_groups(get_setting("classify-distinct-sigmoid").spec, merging=True) == (
        "beta",
        "tau",
        "exp_tau",
        "a",
        "a_merge",
        "a_perp",
        "b",
    )
    assert error_groups(get_setting("p1-family").spec) == ("lam", "a", "b", "nu")
    assert error_groups(get_setting("p2-distinguishable").spec, merging=True) == (
        "beta",
        "tau",
        "exp_tau",
        "a",
        "a_merge",
        "a_perp",
        "nu",
    )


@pytest.mark.parametrize("name", CLASSIFY_MERGES)
def test_merging_adapters_leave_p0_at_n_to_the_minus_one_eighth(name):
    setting = get_setting(name)
    spec = setting.spec
    assert spec.categorical and not spec.distinguishable
    frozen = spec.frozen.params()  # the adapter equal to p0: a = W[1:] - W[0], b = c0[1:] - c0[0]
    np.testing.assert_allclose(frozen["a"], np.subtract(spec.frozen.weight[1:], spec.frozen.weight[0]))
    for n in (10_000, 200_000):
        truth = setting.truth.at(spec, n)
        for k in ("a", "b"):
            np.testing.assert_allclose(truth[k] - frozen[k], n ** (-1 / 8) * C1_MERGE[k], atol=1e-14)
    u = merge_direction(setting.truth)
    np.testing.assert_allclose(u, np.ravel(C1_MERGE["a"]) / np.sqrt(2))


@pytest.mark.parametrize("name", CLASSIFY_DISTINCT)
def test_heterogeneous_adapters_are_distinguishable_and_fixed(name):
    setting = get_setting(name)
    assert setting.spec.distinguishable and setting.spec.prompt.mean == "tanh" and not setting.truth.rates
    np.testing.assert_allclose(setting.truth.at(setting.spec, 10_000)["a"], C1_DISTINCT["a"])


def test_an_adapters_slope_error_splits_into_along_and_across_its_merging_direction():
    setting = get_setting("classify-merging-sigmoid")
    truth = setting.truth.at(setting.spec, 10_000)
    rng = np.random.default_rng(seed(0))
    est = {k: np.asarray(v) + rng.normal(size=np.shape(v)) for k, v in truth.items()}
    err = group_errors(setting.spec, est, truth, merge_direction(setting.truth))
    assert err["a"] == pytest.approx(np.sqrt(np.sum((est["a"] - truth["a"]) ** 2)), rel=1e-12)  # Frobenius
    assert err["a_merge"] ** 2 + err["a_perp"] ** 2 == pytest.approx(err["a"] ** 2, rel=1e-12)
    assert err["b"] == pytest.approx(np.linalg.norm(est["b"] - truth["b"]), rel=1e-12)


def test_the_protocol_gives_n_to_the_minus_half_to_the_heterogeneous_cells_only():
    protocol = get_protocol("classify")
    assert set(protocol.theory) == set(CLASSIFY_DISTINCT)
    assert all(v == -0.5 for cell in protocol.theory.values() for v in cell.values())
    assert min(protocol.n_grid) == 10_000 and max(protocol.n_grid) >= 100_000 and protocol.replicates == 40


def test_a_sweep_stores_an_adapters_rows_per_class_and_refuses_to_mix_them_with_a_regression():
    ds = new_dataset(get_protocol("classify").quick(), SweepConfig())
    assert ds["a_hat"].dims == ("setting", "n", "replicate", "class", "feature") and ds.sizes["class"] == 2
    assert ds["b_true"].dims == ("setting", "n", "replicate", "class") and "nu_hat" not in ds
    with pytest.raises(BayescmoeError) as err:
        new_dataset(Protocol("mixed", ("p1-family", "classify-distinct-constant"), (100, 200), 1), SweepConfig())
    assert err.value.field == "protocol"


@pytest.mark.slow
def test_quick_script_fits_every_cell_above_the_truth_and_gives_merging_cells_no_verdict(tmp_path, monkeypatch):
    out = tmp_path / "quick"
    flags = ["--quick", "--no-progress", "--n-boot", "50", "--seed", str(seed(0)), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["rates_classify.py", *flags])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(ROOT / "analyses" / "rates_classify.py"), run_name="__main__")
    assert stop.value.code == 0
    rows = [line.split(" | ") for line in (out / "slopes.md").read_text().splitlines() if line.startswith("| classify")]
    assert len(rows) == 5 + 7 + 3 + 5  # merging: gate, a, a_merge, a_perp, b; distinct: gate, a, b
    for row in rows:
        merging = row[0].removeprefix("| ") in CLASSIFY_MERGES
        assert (row[4] == "none") == merging and (row[5] == "") == merging  # theory, and its verdict
        assert row[-1] == "0 / 6 |"  # 3 sizes x 2 replicates, none below the truth's log-likelihood
    ds = xr.open_dataset(out / "sweep.nc", engine="h5netcdf").load()
    assert bool(ds["done"].all()) and not bool(ds["below_truth"].any())
    cell = ds.sel(setting="classify-merging-constant", n=10_000, replicate=0)
    setting = get_setting("classify-merging-constant")
    np.testing.assert_allclose(cell["a_true"].values, setting.truth.at(setting.spec, 10_000)["a"])
    assert all((out / f"{s}.png").stat().st_size > 0 for s in (*CLASSIFY_MERGES, *CLASSIFY_DISTINCT))


@pytest.mark.parametrize(("gate", "weak", "power"), [("constant", 1, 4.0), ("sigmoid", 3, 2.0)])
def test_the_information_of_a_merging_adapter_vanishes_in_the_gate_and_its_controls_does_not(gate, weak, power):
    """Along the merging path the gate's eigenvalue(s) fall like Delta^4 (constant: e_lam, first order a combination
    of the adapter's scores) or Delta^2 (sigmoid: the d + 1 gate directions); the tanh control stays bounded."""
    deltas = np.array([0.1, 0.01, 0.001])
    merging, control = classify_paths(deltas, gate)
    slopes = {}
    for path in (merging, control):
        infos = path_information(path, jax.random.PRNGKey(seed(1)), 8000)
        slopes[path.name] = eigen_slopes(deltas, np.array([i.eigenvalues for i in infos]))
        if path is merging:
            basis = gate_basis(path.spec)
            assert subspace_overlap(infos[-1].eigenvectors, basis) > 0.99  # the weakest span the gate coordinates
    np.testing.assert_allclose(slopes["merging"][:weak], power, atol=0.25)
    assert np.all(np.abs(slopes["merging"][weak:]) < 0.1) and np.all(np.abs(slopes["control"]) < 0.1)
