"""Figure of the singular-learning paths (drawing only: the numbers come from bayescmoe/studies/singular_paths.py).

One column per path, against Delta or lam* (log axis; the 0 point drawn at the left, labelled 0),
one line per n: the local learning coefficient over k/2, the log Bayes factor for a prompt (symlog)
and WBIC - F_n, with F_n = -log Z by stepping-stone (its error bar).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write

#: (column, error column or None, y label, reference line) of each row
ROWS = (
    ("llc_ratio", "llc_ratio_se", "lambda_hat / (k/2)", 1.0),
    ("log_bayes_factor", None, "log Bayes factor for a prompt", 0.0),
    ("wbic_minus_free_energy", "log_evidence_se", "WBIC - (-log Z)", 0.0),
)


def _positions(values: pd.Series) -> np.ndarray:
    """Where each Delta / lam* is drawn: itself, or 0 at a quarter of the smallest positive value."""
    positive = values[values > 0]
    floor = positive.min() / 4 if len(positive) else 1.0
    return np.where(values > 0, values, floor)


def _value_axis(ax: Axes, values: pd.Series, label: str) -> None:
    """A log x axis ticked at the path's values only, 0 labelled as such."""
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(np.unique(_positions(values)), [f"{v:g}" for v in np.unique(values)])
    ax.set_xlabel(label)


def plot_singular_paths(rows: pd.DataFrame, path: str | Path) -> Path:
    """Draw :func:`bayescmoe.studies.singular_paths.singular_table` rows: 3 rows x one column per path."""
    rows = rows.assign(llc_ratio_se=rows["llc_se"] / rows["k_half"])
    paths = list(dict.fromkeys(rows["path"]))
    fig = Figure(figsize=(3.4 * len(paths), 8.4))
    axes = fig.subplots(len(ROWS), len(paths), squeeze=False)
    for col, name in enumerate(paths):
        sub = rows[rows["path"] == name]
        for row, (column, error, ylabel, reference) in enumerate(ROWS):
            ax = axes[row, col]
            for n, by_n in sub.groupby("n"):
                yerr = None if error is None else by_n[error]
                ax.errorbar(_positions(by_n["value"]), by_n[column], yerr, fmt="o-", ms=3, label=f"n = {n}")
            ax.axhline(reference, color="0.6", lw=0.8)
            if column == "log_bayes_factor":
                ax.set_yscale("symlog", linthresh=1.0)
            _value_axis(ax, sub["value"], "lam*" if name == "vanishing" else "Delta")
            ax.set_ylabel(ylabel)
            if row == 0:
                ax.set_title(name)
                ax.legend(fontsize=7)
    fig.tight_layout()
    return atomic_write(path, fig.savefig)
