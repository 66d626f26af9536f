"""The per-fit table (truth | MLE +/- s.e. | MAP | posterior mean +/- sd | R-hat | ESS bulk) and its header."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.model.params import by_label
from bayescmoe.results.datatree import spec_of
from bayescmoe.results.evidence import stored_evidence


def flatten(ds: xr.Dataset, names: tuple[str, ...]) -> dict[str, float]:
    """{"a[0]": ..., "nu": ...}: one entry per scalar, labelled as in ``az.summary`` (by the feature coordinate, and
    a categorical adapter's class coordinate)."""
    features = ds["feature"].values if "feature" in ds.coords else None
    classes = ds["class"].values if "class" in ds.coords else None
    values = by_label({n: ds[n].values for n in names}, features=features, classes=classes)
    return {k: float(v) for k, v in values.items()}


def fit_table(dt: xr.DataTree) -> pd.DataFrame:
    """One row per scalar parameter; columns present only for the groups the result has."""
    names = spec_of(dt).param_names
    columns: dict[str, dict[str, float]] = {}
    if "truth" in dt.children:
        columns["truth"] = flatten(dt["truth"].ds, names)
    for kind in ("mle", "map"):
        if kind in dt.children:
            columns[kind] = flatten(dt[kind].ds, names)
            columns[f"{kind}_se"] = flatten(dt[kind]["se"].ds, names)
    if "posterior" in dt.children:
        summary = az.summary(dt, var_names=list(names), kind="all")
        for col in ("mean", "sd", "r_hat", "ess_bulk"):
            columns[f"post_{col}" if col in ("mean", "sd") else col] = summary[col].astype(float).to_dict()
    return pd.DataFrame(columns)


def format_table(table: pd.DataFrame) -> str:
    """Text rendering with 'estimate +/- error' cells."""
    out = pd.DataFrame(index=table.index)
    g = lambda v: f"{v + 0.0:.4g}"  # noqa: E731  (+ 0.0 prints -0.0 as 0)
    if "truth" in table:
        out["truth"] = table["truth"].map(g)
    se = lambda v: " (s.e. undefined)" if not np.isfinite(v) else f" +/- {v + 0.0:.4g}"  # noqa: E731
    for kind, label in (("mle", "MLE +/- s.e."), ("map", "MAP")):
        if kind in table:
            out[label] = table[kind].map(g) + (table[f"{kind}_se"].map(se) if kind == "mle" else "")
    if "post_mean" in table:
        out["posterior mean +/- sd"] = table["post_mean"].map(g) + " +/- " + table["post_sd"].map(g)
        out["R-hat"] = table["r_hat"].map(lambda v: f"{v:.3f}")
        out["ESS bulk"] = table["ess_bulk"].map(lambda v: f"{v:.0f}")
    return out.to_string()


def describe(dt: xr.DataTree) -> str:
    """Header (setting, model, sizes, convergence, timings) and the fit table of a result."""
    a = dt.attrs
    origin = ", ".join(str(a[k]) for k in ("paper", "regime") if a.get(k))
    about = f": {a['description']}" if a.get("description") else ""
    lines = [f"{a.get('setting', 'result')}" + (f" ({origin})" if origin else "") + about]
    lines.append(spec_of(dt).formula())
    source = f", data {a['data_file']}" if a.get("data_file") else ""
    lines.append(f"n = {a.get('n', dt['observed_data']['y'].size)}, seed = {a.get('seed', '?')}{source}")
    for kind in ("mle", "map"):
        if kind in dt.children:
            k = dt[kind].attrs
            lines.append(
                f"{kind.upper()}: log-lik {k['log_likelihood']:.2f}, converged {bool(k['converged'])} "
                f"(stopped by {k.get('stop_reason', '?')}, {k['n_iter']} iterations, |grad| {k['grad_norm']:.1e}), "
                + (
                    "information positive definite True"
                    if k["information_pd"]
                    else "information NOT positive definite: standard errors undefined, possibly not identified"
                )
                + (", DEGENERATE (nu -> 0 spike)" if k["degenerate"] else "")
            )
    if "sample_stats" in dt.children:
        ss = dt["sample_stats"]
        lines.append(
            f"NUTS: {ss.sizes['chain']} chains x {ss.sizes['draw']} draws, {int(ss['diverging'].sum())} divergences"
        )
    evidence = stored_evidence(dt)
    if evidence is not None:
        lines.append(f"evidence for a prompt: {evidence.render()}")
    stages = ("mle_seconds", "map_seconds", "nuts_seconds", "evidence_seconds")
    timings = [f"{k.removesuffix('_seconds')} {a[k]:.1f} s" for k in stages if k in a]
    if timings:
        lines.append("time: " + ", ".join(timings))
    return "\n".join(lines) + "\n\n" + format_table(fit_table(dt))
