"""Results as one DataTree per fit: contents, NetCDF round trip, ArviZ on the loaded file, atomic save."""

from __future__ import annotations

import os

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from helpers import make_params, make_spec, seed

from bayescmoe.errors import BayescmoeError
from bayescmoe.results.datatree import data_of, load, log_likelihood_of, params_of, save, spec_of, to_datatree

GROUPS = ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data", "mle", "map", "truth")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fit(distinguishable_fit):
    return distinguishable_fit


@pytest.fixture(scope="module")
def saved(fit, tmp_path_factory):
    dt = to_datatree(
        fit.spec,
        fit.x,
        fit.y,
        nuts=fit.nuts,
        estimates=[fit.mle, fit.map],
        truth=fit.truth,
        attrs={"seed": 1, "setting": {"name": "distinguishable", "n": 3000}},
    )
    path = save(dt, tmp_path_factory.mktemp("results") / "fit.nc")
    return dt, path


@pytest.fixture(scope="module")
def loaded(saved):
    return load(saved[1])


# ----------------------------------------------------------------------------------------------
# contents and round trip
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_file_has_all_groups(loaded):
    assert set(GROUPS) <= set(loaded.children)
    stats = loaded["sample_stats"]
    assert "energy" in stats.data_vars and "diverging" in stats.data_vars
    assert stats["energy"].shape == (2, 300)
    assert loaded["log_likelihood"]["y"].shape == (2, 300, 3000)
    for group in ("mle", "map"):
        assert set(loaded[group].children) == {"se", "information"}
        assert loaded[group].attrs["converged"] == 1


@pytest.mark.slow
def test_saved_file_is_netcdf(saved):
    _, path = saved
    assert path.is_file()
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89HDF\r\n\x1a\n"  # NetCDF-4 is HDF5
    assert not [name for name in os.listdir(path.parent) if ".part" in name]


def _h5_arrays(path) -> dict[str, object]:
    """Every stored variable of more than one number in a NetCDF-4 file (not the bare dimension scales)."""
    import h5py

    found = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim > 0 and obj.dtype.kind in "biuf":
            if b"not a netCDF variable" not in obj.attrs.get("NAME", b""):
                found[name] = (obj.compression, obj.shuffle, obj.dtype)

    with h5py.File(path) as handle:
        handle.visititems(visit)
    return found


@pytest.mark.slow
def test_every_array_is_compressed(saved):
    arrays = _h5_arrays(saved[1])
    assert "log_likelihood/y" in arrays and "posterior/a" in arrays
    assert {name: c[:2] for name, c in arrays.items() if c[:2] != ("gzip", True)} == {}


@pytest.mark.slow
def test_pointwise_float32_halves_the_file_and_keeps_everything_else(saved, tmp_path):
    dt, path64 = saved
    path32 = save(dt, tmp_path / "fit32.nc", pointwise_dtype="float32")
    assert _h5_arrays(path32)["log_likelihood/y"][2] == np.float32
    assert path32.stat().st_size < 0.6 * path64.stat().st_size
    back, full = load(path32), load(path64)
    for loaded in (back, full):  # the draws, the data and the estimates come back bit for bit
        for group in ("posterior", "sample_stats", "log_prior", "constant_data", "observed_data", "mle", "map"):
            for name, var in dt[group].data_vars.items():
                assert loaded[group][name].dtype == var.dtype, (group, name)
                np.testing.assert_array_equal(loaded[group][name].values, var.values)
    np.testing.assert_array_equal(full["log_likelihood"]["y"].values, dt["log_likelihood"]["y"].values)
    np.testing.assert_allclose(back["log_likelihood"]["y"].values, dt["log_likelihood"]["y"].values, rtol=1e-7)
    assert az.loo(back).elpd == pytest.approx(az.loo(full).elpd, abs=1e-3)


def test_an_unknown_pointwise_dtype_is_refused_before_writing(tmp_path):
    spec = make_spec("gaussian")
    dt = to_datatree(spec, np.zeros((5, spec.dim)), np.zeros(5), truth=make_params(spec))
    with pytest.raises(BayescmoeError, match="pointwise_dtype"):
        save(dt, tmp_path / "fit16.nc", pointwise_dtype="float16")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_spec_round_trip(fit, loaded):
    assert spec_of(loaded) == fit.spec


@pytest.mark.slow
def test_data_round_trip(fit, loaded):
    x, y = data_of(loaded)
    np.testing.assert_array_equal(x, fit.x)
    np.testing.assert_array_equal(y, fit.y)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["mle", "map"])
def test_estimates_round_trip(fit, loaded, group):
    est = getattr(fit, group)
    params = params_of(loaded, group)
    assert set(params) == set(fit.spec.param_names)
    for name, value in est.params.items():
        np.testing.assert_array_equal(params[name], value)
        np.testing.assert_array_equal(loaded[group]["se"][name].values, est.se[name])
    np.testing.assert_array_equal(loaded[group]["information"]["information"].values, est.information)
    assert list(loaded[group]["information"]["param"].values) == list(est.labels)
    assert loaded[group].attrs["log_likelihood"] == est.log_likelihood


@pytest.mark.slow
def test_truth_round_trip(fit, loaded):
    truth = params_of(loaded, "truth")
    for name, value in fit.truth.items():
        np.testing.assert_array_equal(truth[name], value)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["mle", "map"])
def test_log_likelihood_of_matches_estimate(fit, loaded, group):
    assert log_likelihood_of(loaded, group) == pytest.approx(getattr(fit, group).log_likelihood, rel=1e-10)


@pytest.mark.slow
def test_log_likelihood_of_truth_is_lower_than_mle(loaded):
    assert log_likelihood_of(loaded, "truth") < log_likelihood_of(loaded, "mle")


@pytest.mark.slow
def test_pointwise_log_likelihood_sums_to_total(fit, loaded):
    """The stored pointwise log-likelihood (for LOO) is the model's: each draw's total is finite and the
    posterior mean of the total is within a few units of the maximum."""
    totals = loaded["log_likelihood"]["y"].values.sum(axis=-1)
    assert np.all(np.isfinite(totals))
    assert totals.max() <= fit.mle.log_likelihood + 1e-6
    assert fit.mle.log_likelihood - totals.mean() == pytest.approx(2.5, abs=2.0)  # ~ k/2 for k = 5 parameters


@pytest.mark.slow
def test_attrs_round_trip(loaded):
    assert loaded.attrs["seed"] == 1
    assert '"distinguishable"' in loaded.attrs["setting"]
    assert "bayescmoe_version" in loaded.attrs


@pytest.mark.slow
def test_params_of_missing_group(loaded):
    with pytest.raises(BayescmoeError) as err:
        params_of(loaded, "posterior_mean")
    assert err.value.field == "group"


def test_estimates_only_result(tmp_path):
    """A result with no MCMC: data, truth and an estimate still round-trip."""
    spec = make_spec("laplace", gate="sigmoid")
    rng = np.random.default_rng(seed(0))
    x, y = rng.standard_normal((30, 2)), rng.standard_normal(30)
    truth = make_params(spec)
    dt = to_datatree(spec, x, y, truth=truth)
    out = load(save(dt, tmp_path / "sub" / "r.nc"))
    assert {"observed_data", "constant_data", "truth"} <= set(out.children)
    assert "posterior" not in out.children
    assert spec_of(out) == spec
    np.testing.assert_array_equal(data_of(out)[1], y)
    np.testing.assert_array_equal(params_of(out, "truth")["beta"], truth["beta"])


def test_spec_round_trip_bias_free_experts(tmp_path):
    spec = make_spec("laplace", mean="tanh", gate="sigmoid", weight=(1.0, 0.0), bias=None, prompt_bias=False)
    rng = np.random.default_rng(seed(0))
    x, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    out = load(save(to_datatree(spec, x, y), tmp_path / "r.nc"))
    assert spec_of(out) == spec


# ----------------------------------------------------------------------------------------------
# ArviZ on the loaded file
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_arviz_summary(loaded):
    summary = az.summary(loaded)
    assert {"a[0]", "a[1]", "b", "lam", "nu"} <= set(summary.index)
    assert {"mean", "sd", "r_hat", "ess_bulk", "ess_tail"} <= set(summary.columns)
    r_hat = summary["r_hat"].astype(float)
    ess = summary["ess_bulk"].astype(float)
    assert ((r_hat > 0.99) & (r_hat < 1.05)).all()
    assert ((ess > 100) & (ess <= 2 * 600)).all()
    assert float(summary.loc["lam", "mean"]) == pytest.approx(float(params_of(loaded, "mle")["lam"]), abs=0.05)


@pytest.mark.slow
def test_arviz_loo(fit, loaded):
    loo = az.loo(loaded)
    assert np.isfinite(loo.elpd) and np.isfinite(loo.se)
    # elpd_loo sits just below the maximised log-likelihood, the gap ~ the number of parameters
    assert fit.mle.log_likelihood - 15 < loo.elpd < fit.mle.log_likelihood
    assert 2 < loo.p < 10
    assert np.all(loo.pareto_k.values < 0.7)


@pytest.mark.slow
@pytest.mark.parametrize("plot", ["plot_pair", "plot_rank", "plot_energy", "plot_trace_dist"])
def test_arviz_plots(loaded, tmp_path, plot):
    pc = getattr(az, plot)(loaded)
    assert pc is not None
    out = tmp_path / f"{plot}.png"
    try:
        pc.savefig(out)
    finally:
        plt.close("all")
    assert out.is_file() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == PNG_MAGIC


# ----------------------------------------------------------------------------------------------
# atomic save and bad files
# ----------------------------------------------------------------------------------------------


def _small_tree():
    spec = make_spec("student_t")
    rng = np.random.default_rng(seed(1))
    return to_datatree(spec, rng.standard_normal((5, 2)), rng.standard_normal(5), truth=make_params(spec))


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda dt: dt.attrs.update(bayescmoe_spec="{"), "not a valid spec"),  # these were tracebacks
        (lambda dt: dt.attrs.update(bayescmoe_spec=3), "not a valid spec"),
        (lambda dt: dt.attrs.update(bayescmoe_spec='{"gate": "cosine"}'), "not a valid spec"),
        (lambda dt: dt.__delitem__("observed_data"), "no observed_data group"),
        (lambda dt: dt.__delitem__("constant_data"), "no constant_data group"),
    ],
)
def test_a_damaged_result_is_refused_when_loaded(tamper, says, tmp_path):
    dt = _small_tree()
    tamper(dt)
    path = save(dt, tmp_path / "damaged.nc")
    with pytest.raises(BayescmoeError, match=says) as err:
        load(path)
    assert err.value.field == "path"


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    dt = _small_tree()

    def broken(self, path, *args, **kwargs):
        with open(path, "wb") as fh:  # a partial write ...
            fh.write(b"\x89HDF\r\n\x1a\npartial")
        raise OSError("disk full")  # ... then the failure

    monkeypatch.setattr(xr.DataTree, "to_netcdf", broken)
    target = tmp_path / "out" / "fit.nc"
    with pytest.raises(OSError, match="disk full"):
        save(dt, target)
    assert not target.exists()
    assert os.listdir(target.parent) == []  # no *.part leftovers either


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    dt = _small_tree()
    target = save(dt, tmp_path / "fit.nc")
    before = target.read_bytes()

    def broken(self, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"garbage")
        raise RuntimeError("killed")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", broken)
    with pytest.raises(RuntimeError):
        save(dt, target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["fit.nc"]
    monkeypatch.undo()
    assert spec_of(load(target)) == make_spec("student_t")


def test_a_killed_write_leaves_nothing_after_the_next_save(tmp_path):
    target = tmp_path / "fit.nc"
    stale = tmp_path / ".fit.x1y2z3.part.nc"  # what a SIGKILL during a save leaves (no clean-up can run)
    stale.write_bytes(b"\x89HDF partial")
    save(_small_tree(), target)
    assert os.listdir(tmp_path) == ["fit.nc"]


def test_saves_are_durable_before_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    target = save(_small_tree(), tmp_path / "fit.nc")
    assert len(synced) == 2 and ".part.nc" in synced[0] and synced[1] == str(tmp_path)  # the file, then its folder
    assert target.exists()


def test_save_overwrites(tmp_path):
    target = tmp_path / "fit.nc"
    target.write_text("old")
    save(_small_tree(), target)
    assert spec_of(load(target)) == make_spec("student_t")
    assert os.listdir(tmp_path) == ["fit.nc"]


def test_load_missing_file(tmp_path):
    with pytest.raises(BayescmoeError) as err:
        load(tmp_path / "nope.nc")
    assert err.value.field == "path"
    with pytest.raises(BayescmoeError) as err:
        load(tmp_path)  # a directory
    assert err.value.field == "path"


@pytest.mark.parametrize("content", [b"", b"hello, not a NetCDF file\n", b"\x89HDF\r\n\x1a\ntruncated"])
def test_load_non_netcdf(tmp_path, content):
    path = tmp_path / "bad.nc"
    path.write_bytes(content)
    with pytest.raises(BayescmoeError) as err:
        load(path)
    assert err.value.field == "path"


def test_load_foreign_netcdf(tmp_path):
    path = tmp_path / "foreign.nc"
    xr.Dataset({"v": ("i", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(BayescmoeError) as err:
        load(path)
    assert err.value.field == "path"


def test_saved_file_has_the_mode_open_would_give(tmp_path):
    umask = os.umask(0o022)
    try:
        path = save(_small_tree(), tmp_path / "fit.nc")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


# ----------------------------------------------------------------------------------------------
# a complete ArviZ result: every group ArviZ's functions look for, on a saved and loaded file
# ----------------------------------------------------------------------------------------------

COMPLETE = ("prior", "prior_predictive", "posterior_predictive", "log_prior", "unconstrained_posterior")


@pytest.fixture(scope="module")
def complete(fit, tmp_path_factory):
    dt = to_datatree(
        fit.spec, fit.x, fit.y, nuts=fit.nuts, estimates=[fit.map], truth=fit.truth, predictive=True, prior_draws=200
    )
    return load(save(dt, tmp_path_factory.mktemp("complete") / "fit.nc"))


@pytest.mark.slow
def test_complete_result_has_every_group(complete, fit):
    assert set(COMPLETE) <= set(complete.children)
    assert complete["posterior_predictive"]["y"].shape == (2, 300, 3000)
    assert complete["prior_predictive"]["y"].shape == (1, 200, 3000)
    assert set(complete["prior"].data_vars) == set(fit.spec.param_names)
    post = complete["posterior"]
    np.testing.assert_allclose(complete["unconstrained_posterior"]["nu"], np.log(post["nu"]), rtol=1e-12)
    np.testing.assert_allclose(complete["unconstrained_posterior"]["lam"], np.log(post["lam"] / (1 - post["lam"])))
    lam_prior = fit.spec.prior("lam").distribution("unit", ())
    np.testing.assert_allclose(complete["log_prior"]["lam"], lam_prior.log_prob(post["lam"].values), rtol=1e-12)


@pytest.mark.slow
def test_posterior_predictive_resembles_the_data(complete, fit):
    y_rep = complete["posterior_predictive"]["y"].values
    assert abs(y_rep.mean() - fit.y.mean()) < 4 * fit.y.std() / np.sqrt(fit.y.size)
    assert y_rep.std() == pytest.approx(fit.y.std(), rel=0.05)


@pytest.mark.slow
def test_arviz_predictive_and_sensitivity_functions(complete, tmp_path):
    pit = az.loo_pit(complete)["y"].values
    # LOO-PIT of a well-specified model: ~uniform, in [0, 1] up to rounding (ArviZ gave 1 + 4e-16 at one seed)
    assert pit.shape == (3000,) and 0 <= pit.min() and pit.max() <= 1 + 1e-12
    q = np.array([0.1, 0.5, 0.9])  # each within 4 s.e. of a uniform sample's quantile, sqrt(q (1 - q) / n)
    assert np.all(np.abs(np.quantile(pit, q) - q) < 4 * np.sqrt(q * (1 - q) / pit.size))
    sensitivity = az.psense_summary(complete)
    assert {"lam", "nu"} <= set(sensitivity.index) and (sensitivity["prior"].astype(float) < 0.05).all()
    comparison = az.compare({"complete": complete, "again": complete})
    assert list(comparison["elpd_diff"]) == [0.0, 0.0]
    for plot in ("plot_ppc_dist", "plot_prior_posterior", "plot_rank", "plot_energy"):
        out = tmp_path / f"{plot}.png"
        try:
            getattr(az, plot)(complete).savefig(out)
        finally:
            plt.close("all")
        assert out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_pointwise_groups_can_be_thinned_or_skipped(fit):
    thinned = to_datatree(fit.spec, fit.x, fit.y, nuts=fit.nuts, predictive=True, pointwise_thin=3)
    assert thinned["log_likelihood"].sizes["draw"] == thinned["posterior_predictive"].sizes["draw"] == 100
    assert thinned["posterior"].sizes["draw"] == 300  # the posterior itself is kept whole
    np.testing.assert_array_equal(thinned["posterior_predictive"]["draw"], np.arange(0, 300, 3))
    lean = to_datatree(fit.spec, fit.x, fit.y, nuts=fit.nuts, log_likelihood=False, prior_draws=0)
    assert not {"log_likelihood", "posterior_predictive", "prior"} & set(lean.children)
    with pytest.raises(BayescmoeError, match="pointwise_thin"):
        to_datatree(fit.spec, fit.x, fit.y, nuts=fit.nuts, pointwise_thin=0)
