"""Posterior predictive checks of a saved result, drawn with arviz-plots (no statistics computed here)."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import xarray as xr

from bayescmoe.files import atomic_write


def plot_ppc(dt: xr.DataTree, path: str | Path, num_samples: int = 100) -> Path:
    """Observed y against ``num_samples`` posterior predictive data sets (``az.plot_ppc_dist``)."""
    pc = az.plot_ppc_dist(dt, num_samples=num_samples)
    return atomic_write(path, pc.savefig)


def plot_loo_pit(dt: xr.DataTree, path: str | Path) -> Path:
    """ECDF of the LOO-PIT values with its simultaneous band (``az.plot_loo_pit``)."""
    pc = az.plot_loo_pit(dt)
    return atomic_write(path, pc.savefig)
