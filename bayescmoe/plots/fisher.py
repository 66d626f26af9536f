"""Figure of the Fisher-information paths (drawing only: the numbers come from bayescmoe/diagnostics/fisher.py).

One row per paper, one panel per path: every eigenvalue of the per-observation information against Delta on log-log
axes, its fitted slope (:func:`bayescmoe.studies.fisher_paths.eigen_slopes`) in the legend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write


def plot_eigenvalues(datasets: Mapping[str, xr.Dataset] | xr.Dataset, path: str | Path) -> Path:
    """Draw the datasets of ``analyses/fisher_paths.py`` (eigenvalue(path, delta, rank), slope, delta_label).

    One row per dataset (paper, titled by its key), one panel per path.
    """
    sets = {"": datasets} if isinstance(datasets, xr.Dataset) else dict(datasets)
    cols = max(ds.sizes["path"] for ds in sets.values())
    fig = Figure(figsize=(3.4 * cols, 3.2 * len(sets)))
    axes = fig.subplots(len(sets), cols, squeeze=False)
    for row, (paper, ds) in zip(axes, sets.items(), strict=True):
        paths = list(ds["path"].values)
        for ax in row[len(paths) :]:
            ax.set_visible(False)
        for ax, name in zip(row, paths, strict=False):
            sub = ds.sel(path=name)
            deltas = sub["delta"].values
            for rank in sub["rank"].values:
                values = sub["eigenvalue"].sel(rank=rank).values
                shown = values > 0
                label = f"rank {rank}: slope {sub['slope'].sel(rank=rank).item():.2f}"
                ax.plot(deltas[shown], values[shown], "o-", ms=3, label=label)
            title = f"{paper}: {name}" if paper else str(name)
            ax.set(xscale="log", yscale="log", xlabel=str(sub["delta_label"].item()), title=title)
            ax.legend(fontsize=7)
        row[0].set_ylabel("eigenvalue of I(theta*)")
    fig.suptitle("Fisher information at the truth: eigenvalues against Delta")
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
