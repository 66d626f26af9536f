"""Log-log rates from a sweep: mean error per n, the fitted slope and its bootstrap interval.

slope = OLS slope of log(mean over replicates of the error) on log(n). The interval resamples the
replicates with replacement, independently at each n, and refits (percentile bootstrap). A mean
error that is infinite (an estimate that ran off to infinity) gives NaN: there is no rate to report.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.studies.protocols import Protocol


class Slope(NamedTuple):
    """A fitted power law error ~ exp(intercept) n^slope, with a bootstrap interval for the slope."""

    slope: float
    intercept: float
    lo: float
    hi: float


def loglog_fit(n: np.ndarray, mean_error: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through (log n, log mean_error)."""
    slope, intercept = np.polyfit(np.log(n), np.log(mean_error), 1)
    return float(slope), float(intercept)


def fit_slope(n: np.ndarray, errors: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Slope:
    """Slope of log(mean error) on log(n); ``errors`` has shape (len(n), replicates), NaN = missing."""
    n, errors = np.asarray(n, dtype=float), np.asarray(errors, dtype=float)
    mean = np.nanmean(errors, axis=1)
    if not np.all(np.isfinite(mean) & (mean > 0)):  # e.g. exp(tau_hat) overflowed: no power law to fit
        return Slope(np.nan, np.nan, np.nan, np.nan)
    slope, intercept = loglog_fit(n, mean)
    rng = np.random.default_rng(seed)
    reps = errors.shape[1]
    draws = rng.integers(0, reps, size=(n_boot, len(n), reps))
    resampled = np.take_along_axis(errors[None, :, :], draws, axis=2)
    boot = np.array([loglog_fit(n, np.nanmean(r, axis=1))[0] for r in resampled])
    lo, hi = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Slope(slope, intercept, float(lo), float(hi))


def error_summary(ds: xr.Dataset, setting: str, group: str) -> xr.Dataset:
    """Mean error and its standard error over replicates, per n, for one setting and group (NaN = missing)."""
    err = ds[f"err_{group}"].sel(setting=setting)
    count = err.count("replicate")
    with np.errstate(invalid="ignore"):  # an infinite error (exp(tau_hat) overflowed) has no spread: NaN
        sem = err.std("replicate") / np.sqrt(count)
    return xr.Dataset({"mean": err.mean("replicate"), "sem": sem})


#: the order of the error groups in tables and figures: gate, slope (whole, along, across), bias, variance
GROUP_ORDER = ("lam", "beta", "tau", "exp_tau", "a", "a_merge", "a_perp", "b", "nu")


def groups_of(ds: xr.Dataset, setting: str) -> list[str]:
    """Error groups recorded for ``setting`` (non-NaN somewhere), in :data:`GROUP_ORDER`."""
    names = [v.removeprefix("err_") for v in ds.data_vars if v.startswith("err_")]
    names.sort(key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER))
    return [g for g in names if bool(ds[f"err_{g}"].sel(setting=setting).notnull().any())]


def slope_table(ds: xr.Dataset, protocol: Protocol, *, n_boot: int = 1000) -> pd.DataFrame:
    """One row per (setting, group) with our slope and interval, the paper's slope and the theory's.

    ``fits`` counts the fits at the sizes used, ``below_truth`` those that ended below the truth's
    log-likelihood (a sweep's ``below_truth`` flag; NaN when the dataset has none).
    """
    rows = []
    for setting in protocol.settings:
        done = ds["done"].sel(setting=setting).all("replicate").values.astype(bool)
        flags = ds["below_truth"].sel(setting=setting).values[done] if "below_truth" in ds else None
        for group in groups_of(ds, setting):
            errors = ds[f"err_{group}"].sel(setting=setting).values[done]
            fit = fit_slope(ds["n"].values[done], errors, n_boot=n_boot) if done.sum() >= 2 else None
            rows.append(
                {
                    "setting": setting,
                    "group": group,
                    "slope": fit.slope if fit else np.nan,
                    "intercept": fit.intercept if fit else np.nan,
                    "lo": fit.lo if fit else np.nan,
                    "hi": fit.hi if fit else np.nan,
                    "paper": protocol.paper.get(setting, {}).get(group, np.nan),
                    "theory": protocol.theory.get(setting, {}).get(group, np.nan),
                    "n_sizes": int(done.sum()),
                    "fits": int(done.sum()) * ds.sizes["replicate"],
                    "below_truth": float(np.nansum(flags)) if flags is not None else np.nan,
                }
            )
    return pd.DataFrame(rows)


#: a slope "matches" the theory when within this distance of it
TOLERANCE = 0.07


def format_slopes(table: pd.DataFrame) -> str:
    """Markdown: one row per slope, with the paper's and the theory's (``none`` where no theorem predicts one), the
    0.07 verdict and the flagged fits."""
    header = ("setting", "parameter", "our slope (95% CI)", "paper", "theory", "within 0.07", "CI excludes -1/2")
    lines = ["| " + " | ".join((*header, "fits below truth")) + " |", "|---" * (len(header) + 1) + "|"]
    for row in table.itertuples():
        paper = "" if pd.isna(row.paper) else f"{row.paper:.2f}"
        ok = "" if pd.isna(row.theory) else "yes" if abs(row.slope - row.theory) <= TOLERANCE else "**no**"
        theory = "none" if pd.isna(row.theory) else f"{row.theory:.3f}"
        excludes = "" if pd.isna(row.slope) else "yes" if not row.lo <= -0.5 <= row.hi else "no"
        flagged = "" if pd.isna(row.below_truth) else f"{row.below_truth:.0f} / {row.fits}"
        lines.append(
            f"| {row.setting} | {row.group} | {row.slope:.3f} ({row.lo:.3f}, {row.hi:.3f}) | {paper} | "
            f"{theory} | {ok} | {excludes} | {flagged} |"
        )
    return "\n".join(lines)


#: a sigmoid gate "runs away" when its estimate is further than this from the truth (logit units:
#: |tau_hat - tau*| or ||beta_hat - beta*||), i.e. the gate is not yet finite at that n
RUNAWAY = 3.0


def gate_table(ds: xr.Dataset, setting: str) -> pd.DataFrame:
    """Per n, for a sigmoid-gate setting: share of runaway gates, median gate errors, share below the truth."""
    cell = ds.sel(setting=setting).where(ds["done"].sel(setting=setting) == 1)
    runaway = (cell["err_tau"] > RUNAWAY) | (cell["err_beta"] > RUNAWAY)
    frame = pd.DataFrame(
        {
            "runaway": runaway.where(cell["err_tau"].notnull()).mean("replicate").values,
            "median err_tau": cell["err_tau"].median("replicate").values,
            "median err_beta": cell["err_beta"].median("replicate").values,
            "median err_a": cell["err_a"].median("replicate").values,
            "below truth": cell["below_truth"].mean("replicate").values,
            "converged": cell["converged"].mean("replicate").values,
        },
        index=pd.Index(ds["n"].values, name="n"),
    )
    return frame.dropna(how="all")
