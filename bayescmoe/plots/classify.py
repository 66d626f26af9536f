"""Figure of the shifted-classifier study (drawing only: the numbers come from bayescmoe/studies/classify_shift.py).

Left three panels: held-out log loss, accuracy and expected calibration error against the number of labelled
target rows n (log axis), one line per method with +/- 1 standard error over the replicates. Right two panels:
reliability diagrams (accuracy against mean confidence of the top class, per confidence bin, pooled over the
replicates; a marker's area is its bin's share of the rows) at a small and a large n, the diagonal being
perfect calibration.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bayescmoe.files import atomic_write

#: how each method of :data:`bayescmoe.studies.classify_shift.METHODS` is named and drawn
STYLES = {
    "frozen": ("p0 frozen", "0.3", "--"),
    "map": ("contaminated, MAP", "C0", "-"),
    "nuts": ("contaminated, NUTS", "C1", "-"),
    "refit": ("refit on the n rows", "C2", ":"),
    "pooled": ("refit on source + n rows", "C3", ":"),
}

#: the log-loss axis's labelled ticks
LOSS_TICKS = (0.4, 0.5, 0.7, 1, 2, 5)


def plot_classify_shift(table: pd.DataFrame, small: pd.DataFrame, large: pd.DataFrame, path: str | Path) -> Path:
    """Draw :func:`~bayescmoe.studies.classify_shift.shift_table` and two
    :func:`~bayescmoe.studies.classify_shift.reliability` frames (attributes ``n`` their n)."""
    fig = Figure(figsize=(17, 3.6))
    axes = fig.subplots(1, 5)
    frame = table.reset_index()
    for method, (label, colour, style) in STYLES.items():
        rows = frame[frame["method"] == method]
        for ax, metric in zip(axes[:3], ("log_loss", "accuracy", "ece"), strict=True):
            ax.errorbar(rows["n"], rows[metric], yerr=rows[f"{metric}_se"], color=colour, ls=style, marker="o", ms=3,
                        capsize=2, label=label)  # fmt: skip
        for ax, bins in zip(axes[3:], (small, large), strict=True):
            at = bins[(bins["method"] == method) & (bins["count"] > 0)]
            ax.plot(at["confidence"], at["accuracy"], color=colour, ls=style, lw=1)
            ax.scatter(at["confidence"], at["accuracy"], s=at["count"] / at["count"].sum() * 200, color=colour)
    grid = sorted(frame["n"].unique())
    for ax, ylabel in zip(axes[:3], ("held-out log loss (log axis)", "held-out accuracy", "expected calibration error"),
                          strict=True):  # fmt: skip
        ax.set(xscale="log", xlabel="labelled target rows n", ylabel=ylabel)
        ax.set_xticks(grid, [str(n) for n in grid], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_yscale("log")
    axes[0].set_yticks(LOSS_TICKS, [f"{t:g}" for t in LOSS_TICKS])
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=7)
    for ax, bins in zip(axes[3:], (small, large), strict=True):
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence (top class)", ylabel="accuracy")
        ax.set_title(f"reliability, n = {bins.attrs['n']}", fontsize=9)
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80))
