"""Figures of an SBC run (drawing only: ranks, p-values and bands come from :mod:`bayescmoe.sbc`).

- rank histograms (Talts et al. 2018, fig. 1): per parameter, the counts of the ranks in ``bins``
  equal bins with the 99% band of a bin's Binomial(B, 1 / bins) count under uniform ranks;
- ECDF differences (Talts et al. 2018, section 4.2; Säilynoja, Bürkner, Vehtari 2022): the ECDF of
  the jittered PIT values (rank + U) / (L + 1) minus the uniform CDF, by ``az.plot_ecdf_pit``.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write
from bayescmoe.sbc import config_of, pit_values, rank_band, ranks_of, uniformity_pvalue


def plot_rank_histograms(ds: xr.Dataset, setting: str, path: str | Path) -> Path:
    """One panel per parameter of ``setting``: rank counts per bin, the 99% uniform band, the chi-square p."""
    config = config_of(ds)
    ranks = ranks_of(ds, setting)
    width = (config.num_ranks + 1) // config.bins
    sims = len(next(iter(ranks.values())))
    fig = Figure(figsize=(3.2 * len(ranks), 3.0))
    axes = fig.subplots(1, len(ranks), squeeze=False)[0]
    for ax, (label, r) in zip(axes, ranks.items(), strict=True):
        counts = np.bincount(r // width, minlength=config.bins)
        low, high = rank_band(r.size, config.bins)
        ax.axhspan(low, high, color="0.85", zorder=0)
        for level in (low, high):
            ax.axhline(level, color="0.5", lw=0.8, ls="--", zorder=0)
        ax.axhline(r.size / config.bins, color="0.3", lw=1, zorder=3)
        ax.bar(np.arange(config.bins) * width, counts, width=width, align="edge", color="C0", alpha=0.8, zorder=2)
        p = uniformity_pvalue(r, config.num_ranks, config.bins) if r.size else np.nan
        ax.set(
            title=f"{label}: chi-square p = {p:.3g}",
            xlabel=f"rank (0..{config.num_ranks})",
            xlim=(0, width * config.bins),
        )
    axes[0].set_ylabel("simulations")
    fig.suptitle(
        f"SBC rank histograms, {setting}: {sims} simulations, n = {config.n}, L = {config.num_ranks}; "
        "grey: 99% band of a bin's count under uniform ranks"
    )
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))


def plot_ecdf_difference(ds: xr.Dataset, setting: str, path: str | Path) -> Path:
    """ECDF minus uniform CDF of each parameter's jittered PIT values, with ArviZ's simultaneous test."""
    config = config_of(ds)
    pit = {label: pit_values(r, config.num_ranks, config.seed) for label, r in ranks_of(ds, setting).items()}
    data = xr.Dataset({label: (("chain", "draw"), v[None, :]) for label, v in pit.items()})
    pc = az.plot_ecdf_pit(xr.DataTree.from_dict({"prior_sbc": data}), backend="matplotlib")
    return atomic_write(path, pc.savefig)
