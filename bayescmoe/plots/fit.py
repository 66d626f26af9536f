"""Figures of a saved result, drawn with arviz-plots (no statistics computed here)."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import xarray as xr

from bayescmoe.files import atomic_write
from bayescmoe.results.datatree import spec_of


def pair_variables(dt: xr.DataTree) -> tuple[list[str], dict[str, list[int]]]:
    """The gate against the prompt's scalars and first slope: where funnels and ridges show."""
    names = [n for n in spec_of(dt).param_names if n != "beta"]
    return names, {"feature": [0]}


def plot_trace(dt: xr.DataTree, path: str | Path) -> Path:
    """Trace and marginal densities of every parameter (``az.plot_trace_dist``)."""
    names, coords = pair_variables(dt)
    pc = az.plot_trace_dist(dt, var_names=[*names, "beta"] if "beta" in dt.posterior else names, coords=coords)
    return atomic_write(path, pc.savefig)


def plot_pair(dt: xr.DataTree, path: str | Path) -> Path:
    """Pair plot of the gate against the prompt parameters, divergences marked."""
    names, coords = pair_variables(dt)
    pc = az.plot_pair(dt, var_names=names, coords=coords, visuals={"divergence": True})
    return atomic_write(path, pc.savefig)
