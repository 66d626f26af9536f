"""Prediction at new inputs from a saved result: :func:`predict`, scikit-learn's verb after :func:`fit`.

For each parameter draw theta_s (the posterior's draws, ``method="nuts"``, or one plug-in point, the
stored MLE or MAP) and each new row x:

    E[y | x, theta] = (1 - w(x)) h0(x) + w(x) h(x)          (every family has its mean: h0, h)
    P(prompt | x, y, theta) = w(x) g(y | h(x), nu) / p(y | x, theta)     (g the prompt's family)

(with K >= 2 prompts, w0(x) h0(x) + sum_k w_k(x) h_k(x), and the gate and the responsibility per prompt,
along a ``prompt`` dimension)
and one simulated y per draw (NumPyro's ``Predictive`` on the model's observation site; a plug-in
point gets ``num_samples`` of them). The predictive mean, the gate and the predictive y are
summarised by their mean and an equal-tailed interval of ``ci_prob`` over the draws (ArviZ's
default probability unless given). With the new y: the pointwise log predictive density
lpd_i = log mean_s p(y_i | x_i, theta_s), the frozen expert's log f0(y_i | x_i), and their held-out
difference sum_i (lpd_i - log f0_i) with its standard error sqrt(m) sd_i(lpd_i - log f0_i) over the
m rows (the error az.compare gives a difference of pointwise scores): does the prompt help on new data?

A categorical model (docs/classification.md) predicts class probabilities instead of a mean,

    P(y = c | x, theta) = (1 - w(x)) p0(c | x) + w(x) softmax(eta(x))_c,

summarised as ``probability`` (obs, class) with its band, beside the frozen classifier's ``h0`` = p0(c | x);
the classes are labelled by the result's class labels (``class_labels``, a fit from a data file's labels) or
0..C-1, and the predictive draws ``y`` are class codes.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.scipy.special import logsumexp

from bayescmoe.errors import require, require_positive_ints
from bayescmoe.inference.predictive import posterior_predictive
from bayescmoe.model.likelihood import (
    class_log_probs,
    frozen_log_density,
    frozen_log_probs,
    frozen_mean,
    gate_log_weights,
    log_likelihood,
    prompt_mean,
    responsibilities,
)
from bayescmoe.model.spec import (
    ModelSpec,
    check_data,
    encode_classes,
    feature_names,
    given_columns,
    input_columns,
    model_inputs,
)
from bayescmoe.results.datatree import class_labels_of, features_of, observed, params_of, spec_of
from bayescmoe.workflow.fitting import unpack

Array = jax.Array
#: where the parameter draws come from: the posterior, or the stored MLE or MAP as one point
METHODS = ("nuts", "map", "mle")
#: predictive draws of y per row for a plug-in point (``method="map"`` or ``"mle"``)
PLUG_IN_SAMPLES = 1000


def _draws(dt: xr.DataTree, spec: ModelSpec, method: str) -> dict[str, np.ndarray]:
    """Parameter draws (chain, draw, ...): the posterior's, or the MLE / MAP as one chain of one draw."""
    require(method in METHODS, "method", f"unknown method {method!r}; choose from {list(METHODS)}")
    if method == "nuts":
        require("posterior" in dt.children, "method", "the result has no posterior: use method='map' or 'mle'")
        return {k: dt["posterior"][k].values for k in spec.param_names}
    point = params_of(dt, method)
    return {k: np.asarray(v)[None, None] for k, v in point.items()}


@partial(jax.jit, static_argnames="spec")
def _summaries(spec: ModelSpec, draws: dict[str, Array], inputs: Array) -> tuple[Array, Array]:
    """E[y | x, theta] (a categorical model's class probabilities, (rows, C)) and w(x) for every draw (leading axis)
    and row."""

    def one(params: dict[str, Array]) -> tuple[Array, Array]:
        log_w, log_w0 = gate_log_weights(spec, params, inputs)
        if spec.categorical:
            return jnp.exp(class_log_probs(spec, params, inputs)), jnp.exp(log_w)
        w, h0, h = jnp.exp(log_w), frozen_mean(spec, inputs), prompt_mean(spec, params, inputs)
        if spec.num_prompts > 1:
            return jnp.exp(log_w0) * h0 + jnp.sum(w * h, axis=1), w
        return (1.0 - w) * h0 + w * h, w

    return jax.vmap(one)(draws)


@partial(jax.jit, static_argnames="spec")
def _scores(spec: ModelSpec, draws: dict[str, Array], inputs: Array, y: Array) -> tuple[Array, Array]:
    """log p(y | x, theta) and P(prompt | x, y, theta) for every draw (leading axis) and row."""

    def one(params: dict[str, Array]) -> tuple[Array, Array]:
        log_p = log_likelihood(spec, params, inputs, y)
        return log_p, responsibilities(spec, params, inputs, y)

    return jax.vmap(one)(draws)


def _band(name: str, values: np.ndarray, prob: float) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Mean and equal-tailed interval of ``prob`` over the leading axis, as ``name``, ``name_lower``, ``name_upper``
    (over ``obs``, and ``prompt`` for a per-prompt quantity, ``class`` for a class probability)."""
    dims = ("obs", "class" if name == "probability" else "prompt")[: values.ndim - 1]
    lower, upper = np.quantile(values, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {name: (dims, values.mean(axis=0)), f"{name}_lower": (dims, lower), f"{name}_upper": (dims, upper)}


def predict(
    result: xr.DataTree,
    x_new: Any,
    h0: Any = None,
    nu0: Any = None,
    *,
    y_new: Any = None,
    method: str = "nuts",
    ci_prob: float | None = None,
    num_samples: int = PLUG_IN_SAMPLES,
    key: Array | int = 0,
) -> xr.Dataset:
    """Predict at new rows from a result of :func:`~bayescmoe.workflow.fitting.fit` (module docstring).

    ``x_new``: the new features (m, d) (or inputs that already carry the frozen expert's given
    columns), as :func:`fit` takes them: where the result has named features and ``x_new`` names its
    columns (a pandas DataFrame, an xarray DataArray or Dataset), they are matched by name, in any
    order; ``h0`` / ``nu0`` as in :func:`fit`; ``y_new``: the new targets, when known.
    ``method``: the posterior's draws (``"nuts"``) or the stored ``"map"`` or ``"mle"`` as a plug-in
    point. Returns a Dataset over ``obs`` (the new rows), ``feature`` (and ``prompt``): the inputs ``x`` and
    ``h0``; the predictive draws ``y`` (chain, draw, obs); ``mean``, ``gate`` and ``y_pred`` with
    ``_lower`` / ``_upper`` bounds of the ``ci_prob`` interval (a categorical model: ``probability``
    along ``class`` with its bounds, ``gate``, and ``h0`` the frozen classifier's p0; module docstring);
    with ``y_new`` also
    ``responsibility`` (posterior mean of P(prompt | x, y)), ``log_predictive_density`` and
    ``log_predictive_density_frozen``, and in ``attrs`` the held-out totals ``elpd``, ``elpd_frozen``,
    ``elpd_diff`` and ``elpd_diff_se``.
    """
    spec = spec_of(result)
    prob = float(az.rcParams["stats.ci_prob"] if ci_prob is None else ci_prob)
    require(0.0 < prob < 1.0, "ci_prob", f"must lie in (0, 1), got {prob}")
    require_positive_ints(num_samples=num_samples)
    draws = _draws(result, spec, method)
    x_new, y_new, h0, nu0 = unpack(x_new, y_new, h0, nu0)
    names = features_of(result)
    rows = np.asarray(x_new.index) if hasattr(x_new, "index") and hasattr(x_new, "columns") else None
    if names is not None and feature_names(spec, x_new) is not None:
        given = [str(c) for c in (x_new.columns if hasattr(x_new, "columns") else x_new[x_new.dims[1]].values)]
        missing = [n for n in names if n not in given]
        require(not missing, "x", f"has no column(s) {missing} of the fitted features {list(names)}")
        carried = [c for c in given_columns(spec) if c in given]  # the frozen expert's columns, when x_new has them
        x_new = np.column_stack([np.asarray(x_new)[:, given.index(n)] for n in (*names, *carried)])
    inputs = model_inputs(spec, x_new, h0, nu0)
    if spec.categorical and y_new is not None:
        labels = class_labels_of(result) or tuple(str(c) for c in range(spec.classes))
        y_new = encode_classes(spec, y_new, labels)[0]
    inputs, y = check_data(spec, inputs, np.zeros(len(inputs)) if y_new is None else y_new)
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    flat = {k: jnp.asarray(v.reshape(-1, *v.shape[2:])) for k, v in draws.items()}  # (S, ...), S = 1 for a point
    x_inputs = jnp.asarray(inputs)
    mean, gate = (np.asarray(v) for v in _summaries(spec, flat, x_inputs))
    if method != "nuts":  # a point predicts num_samples draws of y
        draws = {k: np.broadcast_to(v, (1, num_samples, *v.shape[2:])) for k, v in draws.items()}
    y_draws = observed(spec, posterior_predictive(spec, x_inputs, draws, key))
    columns = names or input_columns(spec)[: spec.dim]
    x_data = (("obs", "feature"), inputs[:, : spec.dim])
    if spec.categorical:
        data: dict[str, Any] = {
            "x": x_data,
            "h0": (("obs", "class"), np.exp(np.asarray(frozen_log_probs(spec, x_inputs)))),
            "y": (("chain", "draw", "obs"), y_draws),
            **_band("probability", mean, prob),
            **_band("gate", gate, prob),
        }
    else:
        data = {
            "x": x_data,
            "h0": (("obs",), np.asarray(frozen_mean(spec, x_inputs))),
            "y": (("chain", "draw", "obs"), y_draws),
            **_band("mean", mean, prob),
            **_band("gate", gate, prob),
            **_band("y_pred", y_draws.reshape(-1, y_draws.shape[-1]), prob),
        }
    attrs: dict[str, Any] = {"method": method, "ci_prob": prob, "setting": result.attrs.get("setting", "")}
    if y_new is not None:
        log_p, resp = (np.asarray(v) for v in _scores(spec, flat, x_inputs, jnp.asarray(y)))
        lpd = np.asarray(logsumexp(log_p, axis=0) - math.log(log_p.shape[0]))
        frozen = np.asarray(frozen_log_density(spec, x_inputs, jnp.asarray(y)))
        diff = lpd - frozen
        data |= {
            "y_observed": (("obs",), observed(spec, y)),
            "responsibility": (("obs", "prompt")[: resp.ndim - 1], resp.mean(axis=0)),
            "log_predictive_density": (("obs",), lpd),
            "log_predictive_density_frozen": (("obs",), frozen),
        }
        attrs |= {
            "elpd": float(lpd.sum()),
            "elpd_frozen": float(frozen.sum()),
            "elpd_diff": float(diff.sum()),
            "elpd_diff_se": float(math.sqrt(len(diff)) * np.std(diff, ddof=1)) if len(diff) > 1 else math.nan,
        }
    coords = {"obs": np.arange(len(inputs)) if rows is None else rows, "feature": list(columns)}
    if spec.num_prompts > 1:
        coords["prompt"] = np.arange(spec.num_prompts)
    if spec.categorical:
        labels = class_labels_of(result)
        coords["class"] = np.arange(spec.classes) if labels is None else list(labels)
    return xr.Dataset(data, coords=coords, attrs=attrs)
