"""Figures of the rate experiments in the papers' style (drawing only: the numbers come from slopes.py).

One panel per parameter group: mean error against n on log-log axes with standard-error bars, the
fitted line with its slope in the legend, and the theoretical slope as a dashed reference line
through the fitted line's value at the geometric mean of n.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayescmoe.files import atomic_write

if TYPE_CHECKING:
    from bayescmoe.studies.slopes import Slope

LABELS = {"exp_tau": "exp(tau)", "a": "a (eta)", "lam": "lambda"}


def plot_rates(
    title: str,
    summaries: Mapping[str, xr.Dataset],
    slopes: Mapping[str, Slope],
    theory: Mapping[str, float],
    path: str | Path,
) -> Path:
    """Draw one setting's panels (``summaries[group]`` from :func:`bayescmoe.studies.slopes.error_summary`)."""
    groups = list(summaries)
    fig = Figure(figsize=(3.2 * len(groups), 3.0))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        s, fit = summaries[group], slopes[group]
        n, mean, sem = s["n"].values, s["mean"].values, s["sem"].values
        shown = np.isfinite(mean) & (mean > 0)
        ax.errorbar(n[shown], mean[shown], yerr=sem[shown], fmt="o", ms=3, capsize=2, label="mean error")
        if np.isfinite(fit.slope):
            label = f"slope {fit.slope:.2f} [{fit.lo:.2f}, {fit.hi:.2f}]"
            ax.plot(n, np.exp(fit.intercept) * n**fit.slope, "-", label=label)
            if group in theory:
                centre = np.exp(np.mean(np.log(n)))
                anchor = np.exp(fit.intercept) * centre**fit.slope
                ax.plot(n, anchor * (n / centre) ** theory[group], "k--", lw=1, label=f"theory {theory[group]:.3g}")
        else:
            ax.text(0.5, 0.5, "no finite power law", transform=ax.transAxes, ha="center")
        ax.set(xscale="log", yscale="log" if shown.any() else "linear", xlabel="n", title=LABELS.get(group, group))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("error")
    fig.suptitle(title)
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
