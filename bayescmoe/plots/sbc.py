"""Figures of an SBC run (drawing only: counts, bands, p-values and PIT values come from :mod:`bayescmoe.studies.sbc`).

- rank histograms (Talts et al. 2018, fig. 1): per parameter, the counts of the ranks in equal
  bins with the 99% band of a bin's Binomial(B, 1 / bins) count under uniform ranks;
- ECDF differences (Talts et al. 2018, section 4.2; Säilynoja, Bürkner, Vehtari 2022): the ECDF of
  the jittered PIT values (rank + U) / (L + 1) minus the uniform CDF, by ``az.plot_ecdf_pit``.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import xarray as xr
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write


def plot_rank_histograms(hist: xr.Dataset, path: str | Path) -> Path:
    """One panel per parameter: rank counts per bin, the 99% uniform band, the chi-square p (:func:`rank_histogram`)."""
    a = hist.attrs
    params = list(hist["param"].values)
    fig = Figure(figsize=(3.2 * len(params), 3.0))
    axes = fig.subplots(1, len(params), squeeze=False)[0]
    for ax, label in zip(axes, params, strict=True):
        counts = hist["count"].sel(param=label).values
        ax.axhspan(a["band_low"], a["band_high"], color="0.85", zorder=0)
        for level in (a["band_low"], a["band_high"]):
            ax.axhline(level, color="0.5", lw=0.8, ls="--", zorder=0)
        ax.axhline(a["sims"] / counts.size, color="0.3", lw=1, zorder=3)
        ax.bar(hist["bin"].values, counts, width=a["width"], align="edge", color="C0", alpha=0.8, zorder=2)
        ax.set(
            title=f"{label}: chi-square p = {float(hist['chi2_p'].sel(param=label)):.3g}",
            xlabel=f"rank (0..{a['num_ranks']})",
            xlim=(0, a["width"] * counts.size),
        )
    axes[0].set_ylabel("simulations")
    fig.suptitle(
        f"SBC rank histograms, {a['setting']}: {a['sims']} simulations, n = {a['n']}, L = {a['num_ranks']}; "
        "grey: 99% band of a bin's count under uniform ranks"
    )
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))


def plot_ecdf_difference(pit: xr.DataTree, path: str | Path) -> Path:
    """ECDF minus uniform CDF of each parameter's PIT values (:func:`pit_tree`), with ArviZ's simultaneous band."""
    pc = az.plot_ecdf_pit(pit, backend="matplotlib")
    return atomic_write(path, pc.savefig)
