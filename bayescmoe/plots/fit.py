"""Figures of a saved result, drawn with arviz-plots (no statistics computed here): the trace and the pair
plot, each variable and coordinate labelled (``a[0]``, ``beta[3]``), with the truth, MLE and MAP the
result holds marked on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from arviz_base.labels import BaseLabeller
from arviz_plots.visuals import hline, scatter_couple, vline
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bayescmoe.defaults import PAIR_MAX
from bayescmoe.errors import require
from bayescmoe.files import atomic_write
from bayescmoe.results.datatree import spec_of

#: the reference values a result can hold, by group: (legend label, colour, line style, marker)
REFERENCES = {
    "truth": ("truth", "black", "-", "*"),
    "mle": ("MLE", "C4", "--", "s"),
    "map": ("MAP", "C5", ":", "^"),
}
#: inches per variable of the pair plot and per row of the trace plot
PANEL_INCHES = 1.8


class FlatLabeller(BaseLabeller):
    """ArviZ's labels on one line everywhere: ``a[0]``, not ``a`` above ``0``."""

    def make_label_vert(self, var_name, sel, isel):
        return self.make_label_flat(var_name, sel, isel)


def selection(
    dt: xr.DataTree, var_names: Sequence[str] | None = None, features: Sequence[int | str] | None = None
) -> tuple[list[str], dict[str, list[int]]]:
    """The parameters and ``feature`` coordinates a figure shows, checked: ``var_names`` (default every
    parameter) and ``features`` (default all; names of the result's features or positions 0..d-1) as
    ArviZ's ``var_names`` and ``coords``."""
    spec = spec_of(dt)
    names = list(spec.param_names if var_names is None else var_names)
    unknown = [name for name in names if name not in spec.param_names]
    require(names and not unknown, "var_names", f"unknown {unknown or names}; the parameters are {spec.param_names}")
    if features is None:
        return names, {}
    labels = list(dt["posterior"]["feature"].values)
    known = {str(label): i for i, label in enumerate(labels)}
    positions = sorted({known.get(str(f), int(f) if str(f).lstrip("-").isdigit() else -1) for f in features})
    outside = [f for f in positions if not 0 <= f < spec.dim]
    require(positions and not outside, "features", f"{outside or features} not among {labels} or 0..{spec.dim - 1}")
    return names, {"feature": [labels[i] for i in positions]}


def pair_selection(
    dt: xr.DataTree, var_names: Sequence[str] | None = None, features: Sequence[int | str] | None = None
) -> tuple[list[str], dict[str, list[int]]]:
    """:func:`selection`, but by default at most :data:`PAIR_MAX` variables: every scalar (the gate's
    ``lam`` or ``tau``, the prompt's ``b`` and ``nu``) and the first coordinates of ``a`` and ``beta``."""
    names, coords = selection(dt, var_names, features)
    if var_names is not None or features is not None:
        return names, coords
    vectors = [name for name in names if "feature" in dt["posterior"][name].dims]
    if not vectors:
        return names, coords
    per_vector = max(1, (PAIR_MAX - (len(names) - len(vectors))) // len(vectors))
    return names, {"feature": list(dt["posterior"]["feature"].values[:per_vector])}


def references(dt: xr.DataTree, names: Sequence[str], coords: Mapping[str, list[int]]) -> dict[str, xr.Dataset]:
    """The truth, MLE and MAP that ``dt`` holds, each as a Dataset of the shown variables and coordinates."""
    return {
        group: dt[group].to_dataset(inherit=False)[list(names)].sel(coords)
        for group in REFERENCES
        if group in dt.children
    }


def _tidy(figure, groups: Sequence[str], nbins: int, markers: bool) -> None:
    """Fewer ticks (long tick labels no longer overlap) and, above the panels, a legend of the reference marks."""
    for ax in figure.axes:
        ax.xaxis.set_major_locator(MaxNLocator(nbins))
        ax.yaxis.set_major_locator(MaxNLocator(nbins))
        ax.tick_params(labelsize=8)
    if groups:
        handles = [
            Line2D([], [], color=color, linestyle=style, marker=marker if markers else None, label=label)
            for label, color, style, marker in (REFERENCES[g] for g in groups)
        ]
        top = max(ax.get_position().y1 for ax in figure.axes)
        right = max(ax.get_position().x1 for ax in figure.axes)
        figure.legend(handles=handles, loc="lower right", bbox_to_anchor=(right, top), ncols=len(handles))


def write(pc, path: str | Path) -> Path:
    """Write the figure of a PlotCollection or PlotMatrix atomically (trimmed to its content), then close it."""
    figure = pc.viz["figure"].item()
    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, bbox_inches="tight"))
    finally:
        plt.close(figure)


def draw_trace(dt: xr.DataTree, *, var_names: Sequence[str] | None = None, features: Sequence[int | str] | None = None):
    """Marginal densities and traces of every parameter coordinate, one row each (``az.plot_trace_dist``),
    with vertical (densities) and horizontal (traces) lines at the truth, MLE and MAP, as visuals named
    ``<group>_dist`` and ``<group>_trace``; ``var_names`` and ``features`` select (:func:`selection`)."""
    names, coords = selection(dt, var_names, features)
    with az.rc_context({"plot.max_subplots": None}):  # every coordinate asked for, even past ArviZ's 40 panels
        pc = az.plot_trace_dist(dt, var_names=names, coords=coords, compact=False, labeller=FlatLabeller())
    refs = references(dt, names, coords)
    for group, values in refs.items():
        _, color, style, _ = REFERENCES[group]
        for column, line in (("dist", vline), ("trace", hline)):
            pc.coords = {"column": column}
            pc.map(line, f"{group}_{column}", data=values, ignore_aes=pc.aes_set, color=color, linestyle=style)
    pc.coords = None
    for axes in pc.viz["plot"].dataset.sel(column="dist").data_vars.values():  # density scales say nothing
        for ax in axes.values.flat:
            ax.yaxis.set_visible(False)
    _tidy(pc.viz["figure"].item(), list(refs), nbins=4, markers=False)
    return pc


def draw_pair(dt: xr.DataTree, *, var_names: Sequence[str] | None = None, features: Sequence[int | str] | None = None):
    """Pair plot (:func:`pair_selection`): draws below the diagonal, divergences marked, density contours
    above it, marginals on it; the truth, MLE and MAP as points off the diagonal and lines on it (visuals
    ``<group>_point`` and ``<group>_line``)."""
    names, coords = pair_selection(dt, var_names, features)
    shown = dt["posterior"].dataset[names].sel(coords).isel(chain=0, draw=0)
    size = PANEL_INCHES * sum(shown[name].size for name in names)
    common = {"var_names": names, "coords": coords, "labeller": FlatLabeller()}
    with az.rc_context({"plot.max_subplots": None}):
        pm = az.plot_pair(
            dt, **common, visuals={"divergence": True}, figure_kwargs={"figsize": (size, size)}, triangle="lower"
        )
    contours = {"scatter": False, "contour": True, "remove_axis": False, "label": False}
    pm = az.plot_pair(dt, **common, plot_matrix=pm, triangle="upper", marginal=False, visuals=contours)
    refs = references(dt, names, coords)
    for group, values in refs.items():
        _, color, style, marker = REFERENCES[group]
        pm.map_triangle(scatter_couple, f"{group}_point", data=values, color=color, marker=marker, size=40)
        pm.map(vline, f"{group}_line", data=values, color=color, linestyle=style)
    panels = pm.viz["plot"].values
    for i, j in zip(*np.tril_indices_from(panels), strict=True):
        if i == j:  # a marginal's density scale says nothing
            panels[i, j].yaxis.set_visible(False)
        elif j > 0:  # a row shares its y range: the first column labels it
            panels[i, j].tick_params(labelleft=False)
    _tidy(pm.viz["figure"].item(), list(refs), nbins=3, markers=True)
    return pm


def plot_trace(dt: xr.DataTree, path: str | Path, **selected: Sequence | None) -> Path:
    """Write :func:`draw_trace`'s figure (``selected``: its ``var_names`` and ``features``) to ``path``."""
    return write(draw_trace(dt, **selected), path)


def plot_pair(dt: xr.DataTree, path: str | Path, **selected: Sequence | None) -> Path:
    """Write :func:`draw_pair`'s figure (``selected``: its ``var_names`` and ``features``) to ``path``."""
    return write(draw_pair(dt, **selected), path)
