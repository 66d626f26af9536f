"""Users' data and frozen models: a frozen expert given by its predictions, data files, ``fit --data``."""

from __future__ import annotations

import runpy
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from helpers import key, make_params, make_spec, seed
from scipy import stats

import bayescmoe as bc
from bayescmoe.cli import main
from bayescmoe.model.spec import FrozenExpert, ModelSpec, check_data, input_columns, model_inputs
from bayescmoe.results.data import read_data
from bayescmoe.results.datatree import data_of, log_likelihood_of

N = 300
ROOT = Path(__file__).parents[1]
CONFIG = ROOT / "models" / "configs" / "p1-family-small.toml"


def given(spec: ModelSpec, nu: float | str | None = None, priors: dict | None = None) -> ModelSpec:
    """``spec`` with its frozen expert replaced by one given by its predictions (same family)."""
    f = spec.frozen
    frozen = FrozenExpert(f.family, "given", nu=f.nu if nu is None else nu, df=f.df, dim=spec.dim,
                          laplace_reading=f.laplace_reading)  # fmt: skip
    return ModelSpec(frozen, spec.prompt, spec.gate, priors or spec.priors)


@pytest.fixture(scope="module")
def data():
    spec = make_spec("student_t")
    truth = make_params(spec)
    x, y = bc.simulate(key(4), spec, truth, N)
    return spec, truth, np.asarray(x), np.asarray(y)


def linear_h0(spec: ModelSpec):
    """The frozen expert's own mean, written as a function of x (JAX-traceable)."""
    return lambda x: x @ jnp.asarray(spec.frozen.weight) + spec.frozen.bias


@pytest.mark.slow
def test_given_predictions_reproduce_the_parametric_expert(data):
    spec, truth, x, y = data
    spec_h0 = given(spec)
    assert spec_h0.width == spec.dim + 1 and input_columns(spec_h0) == ("x1", "x2", "h0")
    inputs = model_inputs(spec_h0, x, linear_h0(spec))
    params = {k: jnp.asarray(v) for k, v in truth.items()}
    ours = np.asarray(bc.log_likelihood(spec_h0, params, jnp.asarray(inputs), jnp.asarray(y)))
    np.testing.assert_allclose(ours, np.asarray(bc.log_likelihood(spec, params, jnp.asarray(x), jnp.asarray(y))))
    xs, ys = bc.simulate(key(4), spec_h0, truth, N, h0=linear_h0(spec))
    np.testing.assert_array_equal(np.asarray(ys), y)
    np.testing.assert_array_equal(np.asarray(xs), inputs)
    a, b = bc.fit_mle(spec, x, y, key=seed(0)), bc.fit_mle(spec_h0, inputs, y, key=seed(0))
    assert a.log_likelihood == pytest.approx(b.log_likelihood, abs=1e-9)


def test_per_observation_h0_and_nu0_against_scipy():
    spec = given(make_spec("laplace"), "given", {"nu": ["inversegamma", 2.0, 1.0]})
    rng = np.random.default_rng(seed(0))
    x, h0, nu0 = rng.normal(size=(50, 2)), rng.normal(size=50), rng.uniform(0.2, 3.0, size=50)
    y = h0 + rng.normal(size=50)
    params = make_params(spec)
    inputs = model_inputs(spec, x, h0, nu0)
    ours = np.asarray(bc.log_likelihood(spec, {k: jnp.asarray(v) for k, v in params.items()}, inputs, y))
    log_f0 = stats.laplace(h0, np.sqrt(nu0 / 2)).logpdf(y)
    log_f1 = stats.norm(x @ params["a"] + params["b"], np.sqrt(params["nu"])).logpdf(y)
    lam = float(params["lam"])
    np.testing.assert_allclose(
        ours, np.logaddexp(np.log1p(-lam) + log_f0, np.log(lam) + log_f1), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: FrozenExpert("gaussian", "given"), "frozen.dim"),
        (lambda: FrozenExpert("gaussian", "given", weight=(1.0,), dim=1), "frozen.weight"),
        (lambda: FrozenExpert("gaussian", "given", bias=0.0, dim=1), "frozen.bias"),
        (lambda: FrozenExpert("gaussian", "linear", weight=(1.0, 2.0), dim=3), "frozen.dim"),
        (lambda: FrozenExpert("gaussian", "softplus"), "frozen.mean"),
        (lambda: ModelSpec(FrozenExpert("gaussian", "given", nu="given", dim=1)), "priors.nu"),
    ],
)
def test_malformed_given_experts_name_the_field(build, field):
    with pytest.raises(bc.BayescmoeError) as err:
        build()
    assert err.value.field == field


def test_model_inputs_refuse_missing_extra_and_misshapen_columns(data):
    spec, _, x, _ = data
    spec_h0 = given(spec)
    for call, field in [
        (lambda: model_inputs(spec_h0, x), "h0"),
        (lambda: model_inputs(spec, x, np.zeros(N)), "h0"),
        (lambda: model_inputs(spec_h0, x, np.zeros(N - 1)), "h0"),
        (lambda: model_inputs(spec_h0, x, np.zeros(N), nu0=np.ones(N)), "nu0"),
        (lambda: bc.fit_mle(spec_h0, x, np.zeros(N)), "x"),
        (lambda: check_data(spec_h0, np.c_[x, np.full(N, np.nan)], np.zeros(N)), "x"),
    ]:
        with pytest.raises(bc.BayescmoeError) as err:
            call()
        assert err.value.field == field
    with pytest.raises(bc.BayescmoeError, match="build them with model_inputs"):
        bc.fit_mle(spec_h0, x, np.zeros(N))


def test_given_specs_round_trip_through_config():
    spec = given(make_spec("gaussian"), "given", {"nu": ["lognormal", 0.0, 1.0]})
    assert ModelSpec.from_config(spec.to_config()) == spec
    assert "weight" not in spec.to_config()["frozen"]
    parametric = make_spec("gaussian")
    assert "dim" not in parametric.to_config()["frozen"]
    assert ModelSpec.from_config(parametric.to_config()) == parametric


@pytest.mark.slow
def test_fit_with_h0_stores_it_and_rebuilds_the_inputs(data, tmp_path, capsys):
    spec, _, x, y = data
    spec_h0 = given(spec)
    dt = bc.fit(spec_h0, x, y, h0=linear_h0(spec), methods=("mle",), key=seed(0), predictive=False, progress_bar=True)
    assert "bayescmoe.fit" in capsys.readouterr().err  # the stage bar, shown on request
    np.testing.assert_allclose(dt["constant_data"]["h0"].values, np.asarray(linear_h0(spec)(x)))
    assert dt["constant_data"]["x"].shape == (N, spec.dim)
    back = bc.load(bc.save(dt, tmp_path / "r.nc"))
    inputs, y_back = data_of(back)
    np.testing.assert_array_equal(inputs, model_inputs(spec_h0, x, linear_h0(spec)))
    np.testing.assert_array_equal(y_back, y)
    assert log_likelihood_of(back, "mle") == pytest.approx(float(dt["mle"].attrs["log_likelihood"]), abs=1e-9)


def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(str(v) for v in row) for row in rows)]) + "\n")
    return path


def test_csv_npz_and_netcdf_files_read_the_same(data, tmp_path):
    spec, _, x, y = data
    h0 = np.asarray(linear_h0(spec)(x))
    spec_h0 = given(spec)
    csv = write_csv(tmp_path / "d.csv", ["y", "h0", "x2", "x1"], np.c_[y, h0, x[:, 1], x[:, 0]].tolist())
    np.savez(tmp_path / "d.npz", x=x, y=y, h0=h0)
    xr.Dataset({"x": (("obs", "feature"), x), "y": ("obs", y), "h0": ("obs", h0)}).to_netcdf(
        tmp_path / "d.nc", engine="h5netcdf"
    )
    expected = model_inputs(spec_h0, x, h0)
    for name in ("d.csv", "d.npz", "d.nc"):
        inputs, y_read = read_data(tmp_path / name, spec_h0)
        np.testing.assert_allclose(inputs, expected, rtol=1e-15)
        np.testing.assert_allclose(y_read, y, rtol=1e-15)
    assert read_data(csv, spec_h0)[0].shape == (N, 3)


BAD_CSV = {
    "missing column": (["x1", "x2"], [[1, 2]], "no column(s) ['y']"),
    "non-numeric cell": (["x1", "x2", "y"], [[1, 2, 3], [1, "abc", 3]], "row 3, column x2: not a number"),
    "NaN": (["x1", "x2", "y"], [[1, 2, 3], [1, 2, "nan"]], "row 3, column y"),
    "wrong column count for the spec": (["x1", "x2", "x3", "y"], [[1, 2, 3, 4]], "3 feature column(s)"),
    "empty file": ([], [], "is empty"),
    "header only": (["x1", "x2", "y"], [], "header but no rows"),
    "ragged row": (["x1", "x2", "y"], [[1, 2]], "row 2 has 2 cells"),
    "h0 for a computed expert": (["x1", "x2", "y", "h0"], [[1, 2, 3, 4]], "set frozen.mean = 'given'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_data_files_are_one_line_errors_without_output(case, tmp_path, capsys):
    header, rows, says = BAD_CSV[case]
    path = tmp_path / "bad.csv"
    path.write_text("") if not header else write_csv(path, header, rows)
    out = tmp_path / "out"
    argv = ["fit", "--config", str(CONFIG), "--data", str(path), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bayescmoe: error: data: {path}") and says in err[0], err
    assert not out.exists()


def test_other_bad_data_files(data, tmp_path):
    spec, _, x, y = data
    spec_nu = given(spec, "given", {"nu": ["lognormal", 0.0, 1.0]})
    np.savez(tmp_path / "neg.npz", x=x, y=y, h0=y, nu0=np.r_[np.ones(N - 1), -1.0])
    (tmp_path / "d.txt").write_text("x1,y\n")
    (tmp_path / "junk.nc").write_text("not netcdf")
    np.savez(tmp_path / "words.npz", x=np.full((N, 2), "abc"), y=y)
    np.savez(tmp_path / "complex.npz", x=x + 1j, y=y)
    xr.Dataset({"x": (("obs", "feature"), x), "y": ("obs", np.full(N, "abc"))}).to_netcdf(tmp_path / "words.nc")
    with open(tmp_path / "one.npz", "wb") as handle:  # np.save's .npy format under an .npz name
        np.save(handle, x)
    # rows are numbered as lines of the file, blank lines included: the bad nu0 is on line 4
    (tmp_path / "neg.csv").write_text("x1,x2,y,h0,nu0\n1,2,3,4,1\n\n1,2,3,4,-1\n")
    for path, target, says in [
        (tmp_path / "neg.npz", spec_nu, f"row {N - 1}, column nu0"),
        (tmp_path / "neg.csv", spec_nu, "row 4, column nu0: -1.0 (must be a positive variance)"),
        (tmp_path / "d.txt", spec, "unknown file type"),
        (tmp_path / "junk.nc", spec, "not a readable NetCDF"),
        (tmp_path / "none.csv", spec, "no such file"),
        (tmp_path, spec, "unknown file type"),
        (tmp_path / "words.npz", spec, "x holds <U3 values, not real numbers"),  # these three were tracebacks
        (tmp_path / "words.nc", spec, "y holds <U3 values, not real numbers"),
        (tmp_path / "one.npz", spec, "holds one array, as a .npy file does"),
        (tmp_path / "complex.npz", spec, "x holds complex128 values"),  # its imaginary part was dropped
    ]:
        with pytest.raises(bc.BayescmoeError) as err:
            read_data(path, target)
        assert err.value.field == "data" and says in err.value.message, err.value.message


@pytest.mark.slow
def test_fit_data_command_with_an_existing_config(data, tmp_path, capsys):
    setting_spec = bc.ModelSpec.from_file(CONFIG)
    x, y = bc.simulate(key(5), setting_spec, {"lam": 0.3, "a": [-1.0, 1.0], "b": 0.5, "nu": 0.1}, 400)
    path = write_csv(tmp_path / "d.csv", ["x1", "x2", "y"], np.c_[np.asarray(x), np.asarray(y)].tolist())
    out = tmp_path / "out"
    tiny = ["--num-warmup", "60", "--num-samples", "60", "--num-chains", "2", "--no-plots", "--no-predictive"]
    tiny += ["--seed", str(seed(0))]
    assert main(["fit", "--config", str(CONFIG), "--data", str(path), "--out", str(out), *tiny]) == 0
    table = capsys.readouterr().out
    assert f"data {path.resolve()}" in table and "truth" not in table
    dt = bc.load(out / "p1-family-small.nc")
    assert "truth" not in dt.children and "log_likelihood" in dt.children
    np.testing.assert_allclose(data_of(dt)[1], np.asarray(y), rtol=1e-15)
    assert main(["fit", "--config", str(CONFIG), "--data", str(path), "--n", "5", "--out", str(out)]) == 2


@pytest.mark.slow
def test_real_data_example_writes_a_complete_result(tmp_path, capsys):
    """analyses/real_data.py --quick: h0 and nu0 of a pre-trained model, read back from the CSV it writes."""
    script = runpy.run_path(str(ROOT / "analyses" / "real_data.py"))
    assert script["main"](["--quick", "--seed", str(seed(0)), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "new domain: sex 2, n = 207" in printed and "verdict:" in printed and "gain of the prompt" in printed
    figures = {f"diabetes-prompt-{kind}.png" for kind in ("trace", "pair", "ppc", "loo-pit")}
    assert figures <= {p.name for p in tmp_path.iterdir()}
    dt = bc.load(tmp_path / "diabetes-prompt.nc")
    assert {"posterior_predictive", "prior_predictive", "log_likelihood"} <= set(dt.children)
    inputs, _ = read_data(tmp_path / "diabetes-domain2.csv", script["SPEC"])
    np.testing.assert_array_equal(data_of(dt)[0], inputs)
    assert np.ptp(inputs.values[:, -1]) == 0 and inputs.values[0, -1] > 0  # one nu0, the pre-trained residual variance
