"""Posterior geometry near a merge: derived quantities per draw and which ones the data pin down.

Setting: constant gate (P1), prompt and frozen expert both linear with bias (same structure). With
theta = (a, b, nu) and theta0 the frozen expert's, per posterior draw:

    da = a - a0,  db = b - b0,  dnu = nu - nu0,  Delta_hat = ||theta - theta0||   (the Delta* of the rates)

Why some combinations are learned and others not. Near a merge the mixture is, to second order,

    p - f0 = lam (theta - theta0) . grad f + lam (theta - theta0)^T grad^2 f (theta - theta0) / 2 + ...

so the data see the "moments" lam (theta - theta0) and lam (theta - theta0)(theta - theta0)^T, each at
the parametric rate n^-1/2: hence lam Delta (``lam_delta``, and its coordinates such as ``lam_db``) and
lam Delta^2 (``lam_delta2``). lam and Delta separately are only their ratios: lam at n^-1/2 / Delta^2
and theta at n^-1/2 / (lam Delta), the D2 loss of docs/science.md: *The rates*. The heat equation
d^2 f / d b^2 = 2 d f / d nu (section 2) merges the bias's second-order term into the variance's
first-order one, so the coefficient of d f / d nu is lam (dnu + db^2) (``lam_heat``): on the heat path
(only b moves) that combination is learned while lam dnu and lam db^2 separately are not.

:data:`ESTIMABLE` and :data:`NOT_ESTIMABLE` name the two groups; :func:`spread_table` measures, for
each, the relative posterior spread, sqrt(n) x the posterior sd (bounded as Delta -> 0 for the
estimable ones, growing for the others) and the error of the posterior median against the truth.

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.errors import require
from bayescmoe.model.spec import ModelSpec
from bayescmoe.results.datatree import spec_of

#: combinations learned at the parametric rate near a merge (module doc)
ESTIMABLE = ("lam_delta", "lam_delta2", "lam_db", "lam_heat")
#: their factors, learned only at the slowed rates
NOT_ESTIMABLE = ("lam", "delta", "db", "dnu")
#: the central posterior interval of :func:`spread_table`
INTERVAL = 0.9


def check_geometry_spec(spec: ModelSpec) -> None:
    """Require a constant gate and prompt and frozen experts both linear with bias, of a real y (with a variance)."""
    require(spec.gate == "constant", "spec", "posterior geometry needs the constant gate (lam)")
    require(not spec.categorical, "spec", "posterior geometry is that of (a, b, nu): a categorical adapter has no nu")
    require(
        spec.prompt.mean == "linear" and spec.prompt.bias and spec.same_structure,
        "spec",
        "posterior geometry needs prompt and frozen experts both linear with bias",
    )


def derived_quantities(spec: ModelSpec, params: xr.Dataset) -> xr.Dataset:
    """The module doc's quantities from parameters with any leading dims (``a`` along ``feature``)."""
    check_geometry_spec(spec)
    frozen = spec.frozen.params()
    lam = params["lam"]
    da = params["a"] - xr.DataArray(frozen["a"], dims="feature")
    db, dnu = params["b"] - float(frozen["b"]), params["nu"] - float(frozen["nu"])
    delta = np.sqrt((da**2).sum("feature") + db**2 + dnu**2)
    out = xr.Dataset(
        {
            "lam": lam,
            "log_lam": np.log(lam),
            "da": da,
            "db": db,
            "dnu": dnu,
            "delta": delta,
            "lam_delta": lam * delta,
            "lam_delta2": lam * delta**2,
            "lam_db": lam * db,
            "lam_dnu": lam * dnu,
            "lam_db2": lam * db**2,
            "lam_heat": lam * (dnu + db**2),
        }
    )
    descriptions = {
        "delta": "Delta_hat = ||(a, b, nu) - (a0, b0, nu0)||",
        "lam_heat": "lam (dnu + db^2): coefficient of d f / d nu (heat equation)",
    }
    for name, text in descriptions.items():
        out[name].attrs["description"] = text
    return out


def posterior_quantities(dt: xr.DataTree) -> xr.Dataset:
    """:func:`derived_quantities` of every posterior draw of a NUTS result, dims (chain, draw[, feature])."""
    require("posterior" in dt.children, "result", "has no posterior group: posterior geometry needs a NUTS fit")
    spec = spec_of(dt)
    return derived_quantities(spec, dt["posterior"].to_dataset()[list(spec.param_names)])


def true_quantities(dt: xr.DataTree) -> xr.Dataset:
    """:func:`derived_quantities` at the result's stored truth."""
    require("truth" in dt.children, "result", "has no truth group")
    spec = spec_of(dt)
    return derived_quantities(spec, dt["truth"].to_dataset()[list(spec.param_names)])


def spread_table(
    draws: xr.Dataset,
    truth: xr.Dataset,
    n: int,
    names: Sequence[str] = (*ESTIMABLE, *NOT_ESTIMABLE),
    sample_dims: Sequence[str] = ("chain", "draw"),
) -> pd.DataFrame:
    """One row per scalar quantity of ``names``: the posterior against the true value of the same combination.

    Columns: kind (estimable / not estimable), truth, median, sd, rel_sd = sd / |median|,
    rel_width = 90% interval width / |median|, sqrt_n_sd = sqrt(n) sd, error = |median - truth|,
    sqrt_n_error = sqrt(n) error.
    """
    rows = []
    for name in names:
        values = draws[name].stack(sample=list(sample_dims)).values
        require(values.ndim == 1, "names", f"{name!r} is not a scalar quantity")
        median, sd = float(np.median(values)), float(np.std(values))
        low, high = np.quantile(values, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
        true = float(truth[name])
        error = abs(median - true)
        rows.append(
            {
                "quantity": name,
                "kind": "estimable" if name in ESTIMABLE else "not estimable",
                "truth": true,
                "median": median,
                "sd": sd,
                "rel_sd": sd / abs(median) if median else np.inf,
                "rel_width": float(high - low) / abs(median) if median else np.inf,
                "sqrt_n_sd": np.sqrt(n) * sd,
                "error": error,
                "sqrt_n_error": np.sqrt(n) * error,
            }
        )
    return pd.DataFrame(rows).set_index("quantity")


def geometry_table(dt: xr.DataTree) -> pd.DataFrame:
    """:func:`spread_table` of a saved NUTS result with a truth (n = its number of observations)."""
    return spread_table(posterior_quantities(dt), true_quantities(dt), int(dt["observed_data"]["y"].size))
