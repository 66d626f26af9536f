"""Frequentist coverage of Wald and credible intervals, and the errors of point estimates, over replicates.

Input: a replicate store of :mod:`bayescmoe.studies.replicates`. For each setting, n and scalar parameter:

- **Wald** intervals theta_hat +- z se (z the normal quantile of the level, se from the observed
  information of the MLE or of the MAP); a fit whose information is not positive definite has no
  s.e. and counts as a miss (its share is reported as ``no_se``);
- **NUTS** equal-tailed credible intervals (the store's ``post_lo``, ``post_hi``);
- coverage = share of replicates whose interval holds the truth, with a Clopper-Pearson 95%
  interval, and the median width;
- point errors: root mean square error of the MLE, the MAP, the posterior mean and the posterior
  median, and the median |MAP - posterior mean| / posterior sd (how far the two summaries sit
  apart in posterior units).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayescmoe.model.params import name_of

#: interval methods: name -> (estimate, standard error) fields, or the credible bounds
METHODS = {"Wald (MLE)": ("mle", "mle_se"), "Wald (MAP)": ("map", "map_se"), "NUTS": ("post_lo", "post_hi")}
#: point estimates compared with the truth
ESTIMATES = {"MLE": "mle", "MAP": "map", "posterior mean": "post_mean", "posterior median": "post_median"}


def interval(ds: xr.Dataset, method: str) -> tuple[xr.DataArray, xr.DataArray]:
    """(lower, upper) bounds of ``method`` (a key of :data:`METHODS`) at the store's level."""
    first, second = METHODS[method]
    if method == "NUTS":
        return ds[first], ds[second]
    z = stats.norm.ppf((1.0 + float(ds.attrs["level"])) / 2.0)
    return ds[first] - z * ds[second], ds[first] + z * ds[second]


def _done(ds: xr.Dataset) -> xr.Dataset:
    return ds.where(ds["done"] == 1)


def coverage_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (setting, n, param, method): coverage, its 95% interval, median width, share without s.e."""
    ds = _done(ds)
    truth = ds["truth"]
    rows = []
    for method in METHODS:
        lo, hi = interval(ds, method)
        hit = ((lo <= truth) & (truth <= hi)).where(truth.notnull())
        missing = (lo.isnull() | hi.isnull()).where(truth.notnull())
        width = (hi - lo).median("replicate")
        for setting in ds["setting"].values:
            for n in ds["n"].values:
                for param in ds["param"].values:
                    where = {"setting": setting, "n": n, "param": param}
                    h = hit.sel(where).values
                    h = h[np.isfinite(h)]
                    if h.size == 0:
                        continue
                    k = int(h.sum())
                    ci = stats.binomtest(k, h.size).proportion_ci(0.95)
                    rows.append(
                        {
                            "setting": str(setting),
                            "n": int(n),
                            "param": str(param),
                            "method": method,
                            "coverage": k / h.size,
                            "lo": ci.low,
                            "hi": ci.high,
                            "width": float(width.sel(where)),
                            "no_se": float(np.nanmean(missing.sel(where).values)),
                            "replicates": int(h.size),
                        }
                    )
    return pd.DataFrame(rows)


def estimate_errors(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (setting, n, param): RMSE of each of :data:`ESTIMATES`, median |MAP - mean| / sd."""
    ds = _done(ds)
    table = {name: np.sqrt(((ds[field] - ds["truth"]) ** 2).mean("replicate")) for name, field in ESTIMATES.items()}
    table["|MAP - mean| / sd"] = (np.abs(ds["map"] - ds["post_mean"]) / ds["post_sd"]).median("replicate")
    frame = xr.Dataset(table).to_dataframe().reset_index()
    return frame.dropna(subset=list(ESTIMATES), how="all")


def pooled_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage, width and missing s.e. averaged over the scalars of each parameter group."""
    table = table.assign(group=table["param"].map(name_of))
    keys = ["setting", "n", "group", "method"]
    return table.groupby(keys, sort=False)[["coverage", "width", "no_se", "replicates"]].mean().reset_index()


def pooled_errors(errors: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`estimate_errors` averaged over the scalars of each parameter group."""
    errors = errors.assign(group=errors["param"].map(name_of))
    return errors.groupby(["setting", "n", "group"], sort=False).mean(numeric_only=True)
