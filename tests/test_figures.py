"""The trace and pair plots of a result: every coordinate labelled, a selection, the truth, MLE and MAP marked.

The results are made up (tests/made_up.py): draws around the truth, an MLE and a MAP set apart from
it, so that each reference mark can be found at its own value.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from made_up import made_up

from bayescmoe.cli import main
from bayescmoe.errors import BayescmoeError
from bayescmoe.plots.fit import REFERENCES, draw_pair, draw_trace, plot_pair, plot_trace
from bayescmoe.results.datatree import save

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def value_of(dt: xr.DataTree, group: str, name: str, feature: object) -> float:
    var = dt[group][name]
    return float(var if feature is None or "feature" not in var.dims else var.sel(feature=feature))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_trace_shows_every_coordinate_labelled_with_reference_lines():
    dt = made_up("sigmoid", d=3)
    pc = draw_trace(dt)
    labels = {ax.get_ylabel() for ax in pc.viz["figure"].item().axes} - {""}
    assert labels == {"beta[0]", "beta[1]", "beta[2]", "tau", "a[0]", "a[1]", "a[2]", "b", "nu"}
    for group in REFERENCES:
        for column, axis in (("dist", "get_xdata"), ("trace", "get_ydata")):
            lines = pc.viz[f"{group}_{column}"]
            assert set(lines.data_vars) == {"beta", "tau", "a", "b", "nu"}
            for name, artists in lines.data_vars.items():
                for feature in artists.coords.get("feature", xr.DataArray([None])).values:
                    line = artists.item() if feature is None else artists.sel(feature=feature).item()
                    assert getattr(line, axis)()[0] == pytest.approx(value_of(dt, group, name, feature))
    legend = pc.viz["figure"].item().legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["truth", "MLE", "MAP"]


def test_trace_shows_more_coordinates_than_arviz_allows_by_default():
    pc = draw_trace(made_up("sigmoid", d=12))  # 2 x (12 + 1 + 12 + 2) panels: ArviZ stops at 40 unless told
    assert len({ax.get_ylabel() for ax in pc.viz["figure"].item().axes} - {""}) == 27


def test_trace_of_a_selection():
    pc = draw_trace(made_up("sigmoid", d=3), var_names=["a", "nu"], features=[2])
    labels = {ax.get_ylabel() for ax in pc.viz["figure"].item().axes} - {""}
    assert labels == {"a[2]", "nu"}


def _pair_labels(pm) -> list[str]:
    viz = pm.viz
    return [
        name if feature is None else f"{name}[{feature}]"
        for name, feature in zip(viz["var_name_x"].values, viz["feature_x"].values, strict=True)
    ]


@pytest.mark.parametrize(
    ("gate", "d", "selected", "shown"),
    [
        ("constant", 2, {}, ["lam", "a[0]", "a[1]", "b", "nu"]),  # few coordinates: all of them
        ("sigmoid", 8, {}, ["beta[0]", "tau", "a[0]", "b", "nu"]),  # the scalars and what room is left
        ("sigmoid", 8, {"var_names": ["tau", "a"], "features": [3, 5]}, ["tau", "a[3]", "a[5]"]),
        ("sigmoid", 4, {"var_names": ["a"]}, [f"a[{k}]" for k in range(4)]),  # the option for more
    ],
)
def test_pair_plot_shows_a_readable_default_or_the_selection(gate, d, selected, shown):
    assert _pair_labels(draw_pair(made_up(gate, d), **selected)) == shown


def test_pair_plot_marks_the_references_where_they_are():
    dt = made_up("constant", d=2)
    pm = draw_pair(dt)
    labels = _pair_labels(pm)
    keys = [
        (name, feature) for name, feature in zip(pm.viz["var_name_x"].values, pm.viz["feature_x"].values, strict=True)
    ]
    for group in REFERENCES:
        points, lines = pm.viz[f"{group}_point"].values, pm.viz[f"{group}_line"].values
        for i, (name_y, feature_y) in enumerate(keys):
            for j, (name_x, feature_x) in enumerate(keys):
                if i == j:
                    assert lines[i, i].get_xdata()[0] == pytest.approx(value_of(dt, group, name_x, feature_x))
                    continue
                expected = [value_of(dt, group, name_x, feature_x), value_of(dt, group, name_y, feature_y)]
                np.testing.assert_allclose(points[i, j].get_offsets()[0], expected, err_msg=f"{labels[i]}, {labels[j]}")


def test_figures_are_written_with_and_without_references(tmp_path):
    written = [plot_trace(made_up(), tmp_path / "trace.png"), plot_pair(made_up(references=False), tmp_path / "p.png")]
    assert [path.read_bytes()[:8] for path in written] == [PNG_MAGIC, PNG_MAGIC]
    assert not plt.get_fignums()  # written figures are closed
    bare = draw_pair(made_up(references=False))
    assert not [name for name in bare.viz.data_vars if name.endswith(("_point", "_line"))]
    assert not bare.viz["figure"].item().legends


@pytest.mark.parametrize(
    ("selected", "field"),
    [({"var_names": ["zeta"]}, "var_names"), ({"var_names": []}, "var_names"), ({"features": [2]}, "features")],
)
def test_a_bad_selection_is_refused(selected, field, tmp_path):
    with pytest.raises(BayescmoeError, match=field):
        plot_trace(made_up("constant", d=2), tmp_path / "t.png", **selected)
    assert not list(tmp_path.iterdir())


def test_plot_command_takes_the_selection(tmp_path, capsys):
    path = save(made_up("sigmoid", d=3), tmp_path / "r.nc")
    figs = tmp_path / "figs"
    assert main(["plot", str(path), "--out", str(figs), "--var-names", "tau", "a", "--features", "1"]) == 0
    assert sorted(p.name for p in figs.iterdir()) == ["r-pair.png", "r-trace.png"]
    capsys.readouterr()
    assert main(["plot", str(path), "--out", str(tmp_path / "none"), "--var-names", "zeta"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayescmoe: error: var_names"), err
    assert not (tmp_path / "none").exists() or not list((tmp_path / "none").iterdir())
