"""Figure of the overfitted-prompt study (drawing only: the numbers come from bayescmoe/studies/overfitted.py).

Left: the smaller prompt weight's posterior median per fit against the Dirichlet concentration alpha (log
axes), one colour per n, the marker saying what the fit did with the extra prompt, d/2 dashed. Right: the
share of fits that emptied the extra prompt against alpha, one line per concentration of the frozen expert's
weight (alpha0 = alpha: the symmetric prior) and n.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bayescmoe.files import atomic_write

#: a marker per outcome of :data:`bayescmoe.studies.overfitted.OUTCOMES`
MARKERS = {"emptied": "v", "duplicated": "D", "merged with f0": "o", "split": "x"}


def plot_overfitted(fits: pd.DataFrame, d_half: float, path: str | Path) -> Path:
    """Draw :func:`bayescmoe.studies.overfitted.overfitted_fits` rows (columns alpha, symmetric, n,
    small_median, outcome) with the theorem's boundary ``d_half``."""
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    symmetric = fits[fits["symmetric"]]
    colours = {n: f"C{i}" for i, n in enumerate(sorted(fits["n"].unique()))}
    for (n, outcome), group in symmetric.groupby(["n", "outcome"]):
        left.scatter(group["alpha"], group["small_median"], c=colours[n], marker=MARKERS[outcome], s=18, alpha=0.8)
    for n, group in symmetric.groupby("n"):
        medians = group.groupby("alpha")["small_median"].median()
        left.plot(medians.index, medians.values, c=colours[n], lw=1, label=f"n = {n}")
    for outcome, marker in MARKERS.items():
        if (symmetric["outcome"] == outcome).any():
            left.scatter([], [], c="0.4", marker=marker, label=outcome)
    left.set(xscale="log", yscale="log", xlabel="alpha (Dirichlet concentration of each prompt's weight)")
    left.set_ylabel("smaller weight: posterior median")
    left.axvline(d_half, color="0.5", ls="--", lw=0.8)
    left.text(d_half, left.get_ylim()[1], " d/2", va="top", fontsize=8)
    left.legend(fontsize=7)
    labels = sorted(fits["alpha0_label"].unique(), key=lambda label: (label != "alpha", label))
    styles = dict(zip(labels, ("-", "--", ":", "-."), strict=False))
    for (alpha0, n), group in fits.groupby(["alpha0_label", "n"]):
        share = group.groupby("alpha")["outcome"].apply(lambda o: np.mean(o == "emptied"))
        right.plot(share.index, share.values, marker="o", ms=3, c=colours[n], ls=styles[alpha0],
                   label=f"alpha0 = {alpha0}, n = {n}")  # fmt: skip
    right.set(xscale="log", xlabel="alpha", ylabel="share of fits that emptied the extra prompt", ylim=(-0.05, 1.05))
    right.axvline(d_half, color="0.5", ls="--", lw=0.8)
    right.legend(fontsize=6)
    alphas = np.sort(fits["alpha"].unique())
    for ax in (left, right):  # the grid's concentrations as plain numbers, no crowded minor labels
        ax.set_xticks(alphas, [f"{a:g}" for a in alphas], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return atomic_write(path, fig.savefig)
