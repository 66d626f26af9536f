"""Self-describing results: one ``xarray.DataTree`` per fit, saved as NetCDF.

Groups: ArviZ's ``posterior``, ``sample_stats``, ``log_likelihood``, ``posterior_predictive``,
``log_prior``, ``unconstrained_posterior``, ``prior``, ``prior_predictive``, ``observed_data`` (y)
and ``constant_data`` (x, and the frozen expert's h0 and nu0 where they are given), so that ArviZ's
functions (``az.loo``, ``az.loo_pit``, ``az.plot_ppc_dist``, ``az.plot_prior_posterior``,
``az.psense_summary``...) work on a result as they are; ours: ``mle`` and ``map`` (estimates, with
children ``se`` and ``information``, convergence in attrs) and ``truth``. The root attrs hold the
spec as JSON and the seeds, so :func:`spec_of` and :func:`data_of` rebuild the model and its data
from the file alone.

A categorical model (docs/classification.md) stores y as integer class codes (observed, predictive), so that
ArviZ treats it as discrete; its adapter's a and b run along ``class`` (1..C-1, the classes but the reference)
and a given frozen classifier's h0 along ``class`` (0..C-1) in ``constant_data``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescmoe.defaults import POINTWISE_DTYPES
from bayescmoe.errors import BayescmoeError, require, require_positive_ints
from bayescmoe.files import atomic_write
from bayescmoe.inference.nuts import NutsFit
from bayescmoe.inference.optimize import PointEstimate
from bayescmoe.inference.predictive import log_prior_draws, pointwise_log_likelihood, posterior_predictive, proper_prior
from bayescmoe.inference.predictive import prior_draws as prior_draws_of
from bayescmoe.model.likelihood import log_likelihood
from bayescmoe.model.params import unconstrain
from bayescmoe.model.spec import FEATURE_PARAMS, ModelSpec, check_data, check_params, feature_names

#: the groups of n numbers per draw, the bulk of a file: ``to_datatree`` thins the first two
#: (``pointwise_thin``) and ``save`` sets the precision of all three (``pointwise_dtype``)
POINTWISE_GROUPS = ("log_likelihood", "posterior_predictive", "prior_predictive")
#: HDF5's byte shuffle then gzip (zlib level 4), on every numeric array :func:`save` writes
COMPRESSION = {"zlib": True, "complevel": 4, "shuffle": True}
DATA_DIMS = {"y": ["obs"]}
#: the root attribute holding a categorical result's class labels as JSON (code c is the c-th)
CLASS_LABELS = "class_labels"


def param_dims(spec: ModelSpec) -> dict[str, list[str]]:
    """The dimensions of each parameter: ``feature`` for a and beta, after ``prompt`` with K >= 2 prompts; a
    categorical adapter's a and b along ``class`` (before ``feature``)."""
    lead = ["prompt"] if spec.num_prompts > 1 else []
    dims = {}
    for name in spec.param_names:
        classes = ["class"] if spec.categorical and name in ("a", "b") else []
        dims[name] = lead + classes + (["feature"] if name in FEATURE_PARAMS else [])
    return dims


def param_coords(spec: ModelSpec) -> dict[str, np.ndarray]:
    """The coordinates of the parameters' dimensions: features 0..d-1, prompts 0..K-1 (K >= 2), and a categorical
    adapter's classes 1..C-1."""
    prompt = {"prompt": np.arange(spec.num_prompts)} if spec.num_prompts > 1 else {}
    classes = {"class": np.arange(1, spec.classes)} if spec.categorical else {}
    return {"feature": np.arange(spec.dim), **prompt, **classes}


def observed(spec: ModelSpec, y: np.ndarray) -> np.ndarray:
    """y as stored: integer class codes for a categorical model (ArviZ's discrete data), else as it is."""
    return np.asarray(y).astype(np.int64) if spec.categorical else np.asarray(y)


def constant_data(spec: ModelSpec, inputs: np.ndarray) -> xr.DataTree:
    """The group ``constant_data``: the features ``x`` (obs, feature) and the frozen expert's given columns (h0,
    nu0; a frozen classifier's h0 along ``class``, 0..C-1)."""
    data, dims, start = {"x": inputs[:, : spec.dim]}, {"x": ["obs", "feature"]}, spec.dim
    for name in spec.frozen.given:
        width = spec.frozen.given_width(name)
        data[name] = inputs[:, start : start + width] if width > 1 else inputs[:, start]
        dims[name] = ["obs", "class"] if width > 1 else ["obs"]
        start += width
    coords = {"obs": np.arange(len(inputs)), "feature": np.arange(spec.dim)}
    coords |= {"class": np.arange(spec.classes)} if spec.categorical else {}
    return az.from_dict({"constant_data": data}, coords=coords, dims=dims)["constant_data"]


def params_dataset(spec: ModelSpec, params: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """A Dataset with one variable per parameter (vectors along ``feature``, prompts along ``prompt``)."""
    dims = param_dims(spec)
    data = {k: (dims[k], np.asarray(params[k], dtype=float)) for k in spec.param_names}
    return xr.Dataset(data, coords=param_coords(spec), attrs=dict(attrs or {}))


def draws_tree(spec: ModelSpec, draws: Mapping[str, np.ndarray]) -> xr.DataTree:
    """A group of per-draw values (chain, draw[, prompt][, feature]) keyed by parameter, as ArviZ's groups are."""
    dims = param_dims(spec)
    data = {k: (("chain", "draw", *dims.get(k, [])[: np.ndim(v) - 2]), np.asarray(v)) for k, v in draws.items()}
    return xr.DataTree(xr.Dataset(data, coords=param_coords(spec)))


def estimate_tree(spec: ModelSpec, est: PointEstimate) -> xr.DataTree:
    """The group of one MLE/MAP: estimates, ``se`` and ``information`` children, convergence attrs."""
    attrs = {
        "log_likelihood": est.log_likelihood,
        "log_prior": est.log_prior,
        "n_iter": est.n_iter,
        "grad_norm": est.grad_norm,
        "converged": int(est.converged),
        "stop_reason": est.stop_reason,
        "information_pd": int(est.information_pd),
        "degenerate": int(est.degenerate),
        "best_start": est.best_start,
        "start_objectives": np.asarray(est.start_objectives),
    }
    info = xr.Dataset(
        {"information": (("param", "param_bis"), est.information)},
        coords={"param": list(est.labels), "param_bis": list(est.labels)},
    )
    return xr.DataTree.from_dict(
        {"/": params_dataset(spec, est.params, attrs), "se": params_dataset(spec, est.se), "information": info}
    )


def sample_stats(nuts: NutsFit) -> dict[str, np.ndarray]:
    """The sampler statistics under ArviZ's names (as ``az.from_numpyro`` writes them)."""
    stats = nuts.stats
    depth = np.log2(np.maximum(stats["num_steps"], 1)).astype(int) + 1
    return {
        "lp": -stats["potential_energy"],
        "energy": stats["energy"],
        "diverging": stats["diverging"],
        "n_steps": stats["num_steps"],
        "acceptance_rate": stats["accept_prob"],
        "tree_depth": depth,
        "reached_max_tree_depth": depth >= nuts.max_tree_depth,
    }


def to_datatree(
    spec: ModelSpec,
    inputs: Any,
    y: Any,
    *,
    nuts: NutsFit | None = None,
    estimates: Sequence[PointEstimate] = (),
    truth: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    log_likelihood: bool = True,
    predictive: bool = False,
    prior_draws: int = 0,
    pointwise_thin: int = 1,
    key: jax.Array | int = 0,
    features: Sequence[str] | None = None,
    class_labels: Sequence[str] | None = None,
) -> xr.DataTree:
    """Collect a fit into one DataTree (see module docstring); ``attrs`` adds seeds, setting name, n...

    ``features``: the names of the d features, the labels of every ``feature`` coordinate (``a[bmi]``
    in ``az.summary``); by default those ``inputs`` carry (:func:`~bayescmoe.model.spec.feature_names`),
    else 0..d-1. ``class_labels``: a categorical model's C class labels (code c is the c-th), stored in the
    attribute ``class_labels`` and labelling every ``class`` coordinate.

    With a NUTS fit: ``log_prior`` and ``unconstrained_posterior`` always; the pointwise groups
    ``log_likelihood`` (``log_likelihood``) and ``posterior_predictive`` (``predictive``), each
    thinned to every ``pointwise_thin``-th draw (n numbers per draw: the bulk of a file; their
    precision on disk is an option of :func:`save`);
    ``prior`` and ``prior_predictive`` from ``prior_draws`` draws of proper priors (0: none).
    :func:`bayescmoe.fit` asks for all of them; the predictive groups cost a compilation (seconds)
    per spec and data shape, which replicate studies that only need the posterior skip.
    """
    require_positive_ints(pointwise_thin=pointwise_thin)
    require(class_labels is None or spec.categorical, "class_labels", "apply only to a categorical model")
    require(isinstance(prior_draws, int) and prior_draws >= 0, "prior_draws", f"must be >= 0, got {prior_draws!r}")
    names = feature_names(spec, inputs, features)
    inputs, y = check_data(spec, inputs, y)
    coords = {**param_coords(spec), "obs": np.arange(y.shape[0])}
    dims = {**param_dims(spec), **DATA_DIMS}
    k_prior, k_post = jax.random.split(jax.random.PRNGKey(key) if isinstance(key, int) else key)
    y_stored = observed(spec, y)
    if nuts is not None:
        samples = nuts.samples
        groups = {"posterior": samples, "sample_stats": sample_stats(nuts), "observed_data": {"y": y_stored}}
        dt = az.from_dict(groups, coords=coords, dims=dims)
        dt["log_prior"] = draws_tree(spec, log_prior_draws(spec, samples))
        dt["unconstrained_posterior"] = draws_tree(spec, unconstrain(spec, samples))
        thinned = {k: v[:, ::pointwise_thin] for k, v in samples.items()}
        draw = np.arange(0, next(iter(samples.values())).shape[1], pointwise_thin)

        pointwise = {}
        if log_likelihood:
            pointwise["log_likelihood"] = pointwise_log_likelihood(spec, jnp.asarray(inputs), jnp.asarray(y), thinned)
        if predictive:
            y_post = posterior_predictive(spec, jnp.asarray(inputs), thinned, k_post)
            pointwise["posterior_predictive"] = observed(spec, y_post)
        thin = az.from_dict({g: {"y": v} for g, v in pointwise.items()}, coords={**coords, "draw": draw}, dims=dims)
        for group in pointwise:
            dt[group] = thin[group]
    else:
        dt = az.from_dict({"observed_data": {"y": y_stored}}, coords=coords, dims=dims)
    dt["constant_data"] = constant_data(spec, inputs)
    if prior_draws and proper_prior(spec):
        prior = {k: v[None] for k, v in prior_draws_of(spec, jnp.asarray(inputs), k_prior, prior_draws).items()}
        y_prior = observed(spec, prior.pop("y"))
        dt["prior"] = draws_tree(spec, prior)
        obs = {"obs": coords["obs"]}
        dt["prior_predictive"] = xr.DataTree(xr.Dataset({"y": (("chain", "draw", "obs"), y_prior)}, coords=obs))
    for est in estimates:
        dt[est.kind] = estimate_tree(spec, est)
    if truth is not None:
        dt["truth"] = xr.DataTree(params_dataset(spec, check_params(spec, truth, "truth")))
    dt.attrs.update(
        {
            "bayescmoe_spec": json.dumps(spec.to_config()),
            "bayescmoe_version": version("bayescmoe"),
            **{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in (attrs or {}).items()},
        }
    )
    if class_labels is not None:
        dt = with_classes(dt, class_labels)
    return dt if names is None else with_features(dt, names)


def with_classes(dt: xr.DataTree, labels: Sequence[str]) -> xr.DataTree:
    """``dt`` with its class labels stored (:data:`CLASS_LABELS`) and labelling every ``class`` coordinate: the C
    classes of the data, the C - 1 of the adapter's parameters (all but the reference class)."""
    labels = [str(v) for v in labels]
    dt.attrs[CLASS_LABELS] = json.dumps(labels)
    for node in dt.subtree:
        if "class" in node.dataset.dims:
            node.dataset = node.dataset.assign_coords({"class": labels[len(labels) - node.dataset.sizes["class"] :]})
    return dt


def with_features(dt: xr.DataTree, names: Sequence[str]) -> xr.DataTree:
    """``dt`` with every ``feature`` coordinate labelled by ``names``."""
    for node in dt.subtree:
        if "feature" in node.dataset.dims:
            node.dataset = node.dataset.assign_coords(feature=list(names))
    return dt


def class_labels_of(dt: xr.DataTree) -> tuple[str, ...] | None:
    """The class labels (code c is the c-th) of a categorical result fitted to labelled y, or None (codes 0..C-1)."""
    labels = dt.attrs.get(CLASS_LABELS)
    return None if labels is None else tuple(json.loads(labels))


def classes_of(dt: xr.DataTree) -> np.ndarray | None:
    """The class coordinate of a categorical result's adapter parameters (the classes but the reference: labels,
    or codes 1..C-1), as ``az.summary`` labels them; None for a real y."""
    return dt["posterior"]["class"].values if "posterior" in dt.children and "class" in dt["posterior"].coords else None


def features_of(dt: xr.DataTree) -> tuple[str, ...] | None:
    """The feature names a result was fitted with, or None (integer coordinates)."""
    labels = dt["constant_data"]["feature"].values
    return tuple(str(v) for v in labels) if labels.dtype.kind in "UO" else None


def compressed(ds: xr.Dataset, dtype: str | None = None) -> dict[str, dict[str, Any]]:
    """The NetCDF encoding of ``ds``: every numeric array compressed (:data:`COMPRESSION`, lossless), its
    floating-point arrays stored as ``dtype`` when one is given."""
    encoding = {}
    for name, var in ds.variables.items():
        if var.ndim > 0 and var.dtype.kind in "biuf":
            encoding[name] = {**COMPRESSION, **({"dtype": dtype} if dtype and var.dtype.kind == "f" else {})}
    return encoding


def save(dt: xr.DataTree, path: str | os.PathLike, *, pointwise_dtype: str = "float64") -> Path:
    """Write ``dt`` to NetCDF atomically (a killed write leaves no partial file at ``path``), every array
    compressed without loss. ``pointwise_dtype="float32"`` stores the pointwise groups
    (:data:`POINTWISE_GROUPS`) in single precision: half their size, for a relative error of 6e-8 in each
    number (PSIS-LOO moves by about 1e-5 at n = 2000); the posterior and every other group stay float64."""
    require(
        pointwise_dtype in POINTWISE_DTYPES,
        "pointwise_dtype",
        f"must be one of {list(POINTWISE_DTYPES)}, got {pointwise_dtype!r}",
    )
    dtype = {group: pointwise_dtype for group in POINTWISE_GROUPS}
    encoding = {node.path: compressed(node.to_dataset(inherit=False), dtype.get(node.name)) for node in dt.subtree}
    return atomic_write(path, lambda tmp: dt.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))


def load(path: str | os.PathLike) -> xr.DataTree:
    """Read a saved result fully into memory (the file is closed afterwards)."""
    path = Path(path)
    require(path.is_file(), "path", f"no result file at {path}")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as dt:
            out = dt.load()
    except (OSError, ValueError):
        raise BayescmoeError("path", f"{path} is not a NetCDF file (results are written by bayescmoe.save)") from None
    require("bayescmoe_spec" in out.attrs, "path", f"{path} was not written by bayescmoe (no spec attribute)")
    try:
        spec_of(out)
    except (ValueError, TypeError) as err:  # not JSON, or not a spec (a BayescmoeError is a ValueError)
        raise BayescmoeError("path", f"{path}: its spec attribute is not a valid spec ({err})") from None
    missing = sorted({"observed_data", "constant_data"} - set(out.children))
    require(not missing, "path", f"{path} has no {' or '.join(missing)} group: every result holds the data fitted")
    return out


def spec_of(dt: xr.DataTree) -> ModelSpec:
    """Rebuild the model spec stored in a result."""
    return ModelSpec.from_config(json.loads(dt.attrs["bayescmoe_spec"]))


def data_of(dt: xr.DataTree) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, y) the result was fitted to: the model's inputs (features, then any given h0, nu0) and y."""
    constant = dt["constant_data"]
    given = [constant[name].values.reshape(len(constant["obs"]), -1) for name in spec_of(dt).frozen.given]
    return np.concatenate([constant["x"].values, *given], axis=1), dt["observed_data"]["y"].values.astype(float)


def params_of(dt: xr.DataTree, group: str) -> dict[str, np.ndarray]:
    """Parameter dict stored in a group (``mle``, ``map`` or ``truth``)."""
    require(group in dt.children, "group", f"result has no {group!r} group; it has {sorted(dt.children)}")
    spec = spec_of(dt)
    return {k: dt[group][k].values for k in spec.param_names}


def log_likelihood_of(dt: xr.DataTree, group: str) -> float:
    """Re-evaluate the total log-likelihood at the parameters of ``group`` on the stored data."""
    spec = spec_of(dt)
    x, y = data_of(dt)
    params = {k: jnp.asarray(v) for k, v in params_of(dt, group).items()}
    return float(jnp.sum(log_likelihood(spec, params, jnp.asarray(x), jnp.asarray(y))))
