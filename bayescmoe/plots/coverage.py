"""Figures of the replicate studies (drawing only: the numbers come from :mod:`bayescmoe.studies.coverage`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write


def plot_coverage(pooled: pd.DataFrame, level: float, path: str | Path) -> Path:
    """One panel per (setting, n): coverage per parameter group and method, the nominal level dashed."""
    panels = list(pooled.groupby(["setting", "n"], sort=False))
    methods = list(dict.fromkeys(pooled["method"]))
    fig = Figure(figsize=(3.4 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    width = 0.8 / len(methods)
    for ax, ((setting, n), rows) in zip(axes, panels, strict=True):
        groups = list(dict.fromkeys(rows["group"]))
        at = np.arange(len(groups))
        for i, method in enumerate(methods):
            values = rows[rows.method == method].set_index("group").reindex(groups)["coverage"]
            ax.bar(at + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
        ax.axhline(level, color="k", ls="--", lw=1)
        ax.set(xticks=at, xticklabels=groups, ylim=(0, 1.05), title=f"{setting}, n = {n}")
    axes[0].set_ylabel(f"coverage of {level:.0%} intervals")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
