"""Figures of the posterior geometry near a merge, drawn with arviz-plots (numbers: bayescmoe.diagnostics.geometry).

- :func:`plot_funnel`: log lam against the prompt's displacement coordinates (``az.plot_pair_focus``):
  the funnel, where a small gate lets the prompt wander;
- :func:`plot_ridge`: the pair plot of (db, dnu, log lam) (``az.plot_pair``): on the heat path the
  b-nu ridge along which lam (dnu + db^2) stays fixed;
- :func:`plot_combinations`: marginal densities of the estimable combinations (first row) next to
  the non-estimable factors (second row), the true value of each marked (``az.plot_dist``, ``az.add_lines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import arviz as az
import xarray as xr

from bayescmoe.diagnostics.geometry import ESTIMABLE, NOT_ESTIMABLE
from bayescmoe.files import atomic_write


def _tree(draws: xr.Dataset) -> xr.DataTree:
    return xr.DataTree.from_dict({"posterior": draws})


def plot_funnel(draws: xr.Dataset, path: str | Path, prompt: Sequence[str] = ("da", "db", "dnu", "delta")) -> Path:
    """log lam (vertical) against each displacement of ``prompt`` (draws derived in the diagnostics layer)."""
    pc = az.plot_pair_focus(_tree(draws), focus_var="log_lam", var_names=list(prompt))
    return atomic_write(path, pc.savefig)


def plot_ridge(draws: xr.Dataset, path: str | Path, names: Sequence[str] = ("db", "dnu", "log_lam")) -> Path:
    """Pair plot of ``names`` (default: bias and variance displacements and log lam)."""
    pc = az.plot_pair(_tree(draws), var_names=list(names))
    return atomic_write(path, pc.savefig)


def plot_combinations(
    draws: xr.Dataset,
    truth: xr.Dataset,
    path: str | Path,
    estimable: Sequence[str] = ESTIMABLE,
    not_estimable: Sequence[str] = NOT_ESTIMABLE,
) -> Path:
    """Posterior densities: estimable combinations (first row), non-estimable factors (second), truths as lines."""
    names = [*estimable, *not_estimable]
    pc = az.plot_dist(
        _tree(draws),
        var_names=names,
        point_estimate="median",
        col_wrap=len(estimable),
        figure_kwargs={"figsize": (3.2 * len(estimable), 6.0), "layout": "constrained"},
    )
    az.add_lines(pc, values={name: float(truth[name]) for name in names}, visuals={"ref_line": {"color": "black"}})
    return atomic_write(path, pc.savefig)
