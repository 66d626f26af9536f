"""Figure of the Fisher-information paths (drawing only: the numbers come from bayescmoe/fisher.py).

One panel per path: every eigenvalue of the per-observation information against Delta on log-log
axes, its fitted slope (:func:`bayescmoe.fisher.eigen_slopes`) in the legend.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write


def plot_eigenvalues(ds: xr.Dataset, path: str | Path) -> Path:
    """Draw ``ds`` of ``analyses/fisher_paths.py`` (eigenvalue(path, delta, rank), slope, delta_label)."""
    paths = list(ds["path"].values)
    fig = Figure(figsize=(3.4 * len(paths), 3.2))
    axes = fig.subplots(1, len(paths), squeeze=False)
    for ax, name in zip(axes[0], paths, strict=True):
        sub = ds.sel(path=name)
        deltas = sub["delta"].values
        for rank in sub["rank"].values:
            values = sub["eigenvalue"].sel(rank=rank).values
            shown = values > 0
            label = f"rank {rank}: slope {sub['slope'].sel(rank=rank).item():.2f}"
            ax.plot(deltas[shown], values[shown], "o-", ms=3, label=label)
        ax.set(xscale="log", yscale="log", xlabel=str(sub["delta_label"].item()), title=str(name))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("eigenvalue of I(theta*)")
    fig.suptitle("Fisher information at the truth: eigenvalues against Delta")
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
