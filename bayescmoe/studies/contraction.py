"""Posterior contraction against n, next to the MLE's rates.

Input: a replicate store of :mod:`bayescmoe.studies.replicates` over an n grid. Per parameter group of
:func:`bayescmoe.studies.losses.error_groups` (vectors pooled over their coordinates) and replicate:

- ``sd``: the posterior spread sqrt(sum of the group's posterior variances);
- ``post_mean`` / ``mle``: the error ||estimate - truth|| of the posterior mean / of the MLE.

Each quantity's log-log slope against n (:func:`bayescmoe.studies.slopes.slope_table`, bootstrap over
replicates) is reported with the theory's slope of the setting (:mod:`bayescmoe.studies.protocols`), so the
posterior's contraction rate reads next to the MLE's rate on the same data.

Background: docs/science.md, *The rates*.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.model.params import name_of
from bayescmoe.studies.protocols import Protocol
from bayescmoe.studies.slopes import slope_table

#: what is fitted against n: name -> (store field, whether it is a spread rather than an error)
QUANTITIES = {"sd": ("post_sd", True), "post_mean": ("post_mean", False), "mle": ("mle", False)}


def group_quantity(ds: xr.Dataset, quantity: str) -> xr.Dataset:
    """``err_<group>`` per (setting, n, replicate) for one of :data:`QUANTITIES`, with ``done``."""
    field, spread = QUANTITIES[quantity]
    values = ds[field] if spread else ds[field] - ds["truth"]
    groups = xr.DataArray([name_of(str(p)) for p in ds["param"].values], dims="param")
    norms = np.sqrt((values**2).groupby(groups.rename("group")).sum("param"))
    out = xr.Dataset({f"err_{g}": norms.sel(group=g, drop=True) for g in dict.fromkeys(groups.values)})
    out["done"] = ds["done"]
    return out.where(ds["done"] == 1).assign(done=ds["done"])


def contraction_table(ds: xr.Dataset, protocol: Protocol, *, n_boot: int = 1000) -> pd.DataFrame:
    """Slopes of every quantity, setting and group: one row each, with the theory's slope."""
    grid = replace(protocol, settings=tuple(map(str, ds["setting"].values)), n_grid=tuple(map(int, ds["n"].values)))
    tables = [slope_table(group_quantity(ds, q), grid, n_boot=n_boot).assign(quantity=q) for q in QUANTITIES]
    table = pd.concat(tables, ignore_index=True)
    return table[["setting", "group", "quantity", "slope", "lo", "hi", "intercept", "theory", "n_sizes"]]
