"""Your columns, as they are: named features through files, pandas and xarray, to az.summary and predict."""

from __future__ import annotations

import re

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import key, quiet_fit, seed

from bayescmoe.cli import main
from bayescmoe.errors import BayescmoeError
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec
from bayescmoe.results.data import read_data
from bayescmoe.results.datatree import features_of, load
from bayescmoe.results.tables import describe
from bayescmoe.workflow.predicting import predict

SPEC = ModelSpec(FrozenExpert("student_t", df=5.0, weight=(1.0, -0.5), bias=0.0, nu=0.25))
TRUTH = {"lam": 0.3, "a": np.array([-1.0, 1.0]), "b": 0.5, "nu": 0.1}
NAMES = ("bmi", "bp")
TINY = {"num_warmup": 60, "num_samples": 60, "num_chains": 2, "predictive": False, "evidence": None}
CONFIG = """[spec]
gate = "constant"
[spec.frozen]
family = "student_t"
df = 5.0
weight = [1.0, -0.5]
bias = 0.0
nu = 0.25
"""


@pytest.fixture(scope="module")
def data():
    x, y = simulate(key(2), SPEC, TRUTH, 200)
    return np.asarray(x), np.asarray(y)


def write(path, header, rows, delimiter=","):
    path.write_text("\n".join(delimiter.join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


@pytest.mark.slow
def test_a_dataframe_names_the_features_everywhere(data):
    x, y = data
    frame = pd.DataFrame(x, columns=list(NAMES))
    dt = quiet_fit(SPEC, frame, pd.Series(y), **TINY)
    assert features_of(dt) == NAMES
    assert {"a[bmi]", "a[bp]"} <= set(az.summary(dt, var_names=["a"]).index)
    table = describe(dt)
    assert "a[bmi]" in table and "a[0]" not in table
    assert list(dt["mle"]["a"]["feature"].values) == list(NAMES)
    # predict matches columns by name, in any order
    shuffled = frame[["bp", "bmi"]].iloc[:20]
    by_name = predict(dt, shuffled, method="map", num_samples=10)
    by_position = predict(dt, x[:20], method="map", num_samples=10)
    np.testing.assert_allclose(by_name["mean"], by_position["mean"], rtol=1e-12)
    assert list(by_name["feature"].values) == list(NAMES)
    with pytest.raises(BayescmoeError, match="bmi") as err:
        predict(dt, frame[["bp"]].assign(age=1.0), method="map")
    assert err.value.field == "x"


@pytest.mark.slow
def test_an_xarray_dataset_is_data(data):
    x, y = data
    ds = xr.Dataset({"x": (("obs", "feature"), x), "y": (("obs",), y)}, coords={"feature": list(NAMES)})
    dt = quiet_fit(SPEC, ds, methods=("mle",), evidence=None, predictive=False)
    assert features_of(dt) == NAMES
    with pytest.raises(BayescmoeError) as err:
        quiet_fit(SPEC, ds.drop_vars("y"), methods=("mle",))
    assert err.value.field == "y"
    assert features_of(quiet_fit(SPEC, x, y, methods=("mle",), features=["u", "v"])) == ("u", "v")
    with pytest.raises(BayescmoeError) as err:
        quiet_fit(SPEC, x, y, methods=("mle",), features=["u"])
    assert err.value.field == "features"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_file_with_its_own_names_delimiter_and_an_ignored_column(data, delimiter, tmp_path):
    x, y = data
    rows = [[i, *row, target] for i, (row, target) in enumerate(zip(x[:50], y[:50], strict=True))]
    path = write(tmp_path / "d.csv", ["id", *NAMES, "progression"], rows, delimiter)
    inputs, target = read_data(path, SPEC, features=NAMES, target="progression", ignore=["id"])
    assert list(inputs["column"].values) == list(NAMES)
    np.testing.assert_allclose(inputs.values, x[:50]) and np.testing.assert_allclose(target, y[:50])
    with pytest.raises(BayescmoeError, match=re.escape(f"delimiter {delimiter!r}")) as err:
        read_data(path, SPEC, features=NAMES, target="progression")  # id neither used nor ignored
    assert err.value.field == "data" and "['id']" in err.value.message
    with pytest.raises(BayescmoeError) as err:
        read_data(path, SPEC, features=NAMES, target="progression", ignore=["id", "age"])
    assert err.value.field == "ignore"


def test_a_byte_order_mark_is_not_part_of_a_name(data, tmp_path):
    x, y = data
    path = tmp_path / "bom.csv"
    write(path, ["x1", "x2", "y"], np.c_[x[:10], y[:10]].tolist())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    inputs, _ = read_data(path, SPEC)
    np.testing.assert_allclose(inputs.values, x[:10])


@pytest.mark.slow
def test_the_command_line_fits_and_predicts_named_columns(data, tmp_path, capsys):
    x, y = data
    config = tmp_path / "spec.toml"
    config.write_text(CONFIG)
    rows = [[i, *row, target] for i, (row, target) in enumerate(zip(x, y, strict=True))]
    path = write(tmp_path / "d.csv", ["id", *NAMES, "prog"], rows, ";")
    out = tmp_path / "out"
    flags = ["--features", "bmi,bp", "--target", "prog", "--ignore", "id", "--no-plots", "--no-predictive"]
    tiny = ["--num-warmup", "40", "--num-samples", "40", "--num-chains", "2"]
    tiny += ["--seed", str(seed(0))]
    assert main(["fit", "--config", str(config), "--data", str(path), "--out", str(out), *flags, *tiny]) == 0
    assert "a[bmi]" in capsys.readouterr().out
    dt = load(out / "spec.nc")
    assert features_of(dt) == NAMES
    new = write(tmp_path / "new.csv", ["bp", "bmi"], x[:5, ::-1].tolist())  # named, reordered, no target
    assert main(["predict", str(out / "spec.nc"), "--data", str(new), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["fit", "--config", str(config), "--data", str(path), "--out", str(out), "--target", "prog"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "delimiter ';'" in err[-1] and "name the features" in err[-1]
    figures = tmp_path / "figures"
    assert main(["plot", str(out / "spec.nc"), "--out", str(figures), "--features", "bp"]) == 0
    assert {p.name for p in figures.iterdir()} == {"spec-trace.png", "spec-pair.png"}
    assert main(["plot", str(out / "spec.nc"), "--out", str(figures), "--features", "age"]) == 2
