"""Figures of the singular-learning paths (drawing only: the numbers come from bayescmoe/studies/singular_paths.py).

Row 1, one panel per path: the local learning coefficient over k/2 against Delta or lam*, one line per n.
Row 2: the log Bayes factor for a prompt per path (symlog axis) and WBIC against -log Z.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write


def _value_axis(ax, values: np.ndarray) -> None:
    """A log axis for Delta / lam* with the 0 point drawn at a quarter of the smallest positive value."""
    positive = values[values > 0]
    ax.set_xscale("log")
    if positive.size:
        ax.set_xlim(positive.min() / 8, positive.max() * 2)


def _shown(values: pd.Series) -> np.ndarray:
    positive = values[values > 0]
    floor = positive.min() / 4 if len(positive) else 1.0
    return np.where(values > 0, values, floor)


def plot_singular_paths(rows: pd.DataFrame, path: str | Path) -> Path:
    """Draw :func:`bayescmoe.studies.singular_paths.singular_table` rows (0 drawn at the left edge)."""
    paths = list(dict.fromkeys(rows["path"]))
    fig = Figure(figsize=(3.3 * len(paths), 6.4))
    axes = fig.subplots(2, len(paths), squeeze=False)
    for ax, name in zip(axes[0], paths, strict=True):
        sub = rows[rows["path"] == name]
        for n, by_n in sub.groupby("n"):
            ax.errorbar(
                _shown(by_n["value"]),
                by_n["llc_ratio"],
                by_n["llc_se"] / by_n["k_half"],
                fmt="o-",
                ms=3,
                label=f"n = {n}",
            )
        ax.axhline(1.0, color="0.6", lw=0.8)
        _value_axis(ax, sub["value"].to_numpy())
        ax.set(title=name, xlabel="lam*" if name == "vanishing" else "Delta", ylabel="lambda_hat / (k/2)")
        ax.legend(fontsize=7)
    for ax, name in zip(axes[1, :-1], paths[:-1], strict=False):
        sub = rows[rows["path"] == name]
        for n, by_n in sub.groupby("n"):
            ax.plot(_shown(by_n["value"]), by_n["log_bayes_factor"], "s-", ms=3, label=f"n = {n}")
        ax.axhline(0.0, color="0.6", lw=0.8)
        _value_axis(ax, sub["value"].to_numpy())
        ax.set(yscale="symlog", title=f"{name}: log Bayes factor", xlabel="lam*" if name == "vanishing" else "Delta")
    ax = axes[1, -1]
    free_energy = -rows["log_evidence"]
    ax.scatter(free_energy, rows["wbic"], s=10)
    span = [free_energy.min(), free_energy.max()]
    ax.plot(span, span, color="0.6", lw=0.8)
    ax.set(title="WBIC against -log Z", xlabel="-log Z (stepping-stone)", ylabel="WBIC")
    fig.tight_layout()
    return atomic_write(path, fig.savefig)
