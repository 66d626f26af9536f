"""From data to one complete result: :func:`fit` (MLE, MAP and NUTS in one call) and :func:`run_setting`.

:func:`fit` is this package's ``pm.sample``: a spec and data go in, one self-describing DataTree
(:mod:`bayescmoe.results.datatree`) comes out, with the MLE (flat priors), the MAP (the spec's
priors) and NUTS (started at the MAP) and each stage's wall time. :func:`run_setting` simulates a
named setting (:mod:`bayescmoe.model.settings`) and fits it: what ``bayescmoe fit <setting>`` and
the ``models/`` scripts run. A seed is split once (:func:`split_seed`): simulated data come from
the first half, the fits from the second, so data fitted with the seed that simulated them give
the same numbers as :func:`run_setting`.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import xarray as xr
from tqdm.auto import tqdm

from bayescmoe.diagnostics.predictive import CRITERIA, prompt_evidence
from bayescmoe.diagnostics.signals import sampler_warnings
from bayescmoe.errors import FitWarning, require, require_positive_ints
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_map, fit_mle
from bayescmoe.model.settings import Setting
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import ModelSpec, check_data, encode_classes, feature_names, model_inputs
from bayescmoe.results.datatree import to_datatree
from bayescmoe.results.evidence import ATTRIBUTE
from bayescmoe.runtime import require_memory

Array = jax.Array
#: the estimators :func:`fit` runs, in the order it runs them
METHODS = ("mle", "map", "nuts")
#: bytes per number held while fitting: the data, the solvers' per-row intermediates and the
#: pointwise log-likelihood of every draw (written twice: NumPyro's and ArviZ's copies)
FIT_BYTES = 8 * 4
#: where NUTS chains start: at the MAP, or NumPyro's uniform (-2, 2) on the unconstrained scale
NUTS_INITS = ("map", "prior")


def _timed[T](meta: dict[str, Any], bar: tqdm, label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` as stage ``label`` of ``bar``; its wall time goes to ``meta[f"{label}_seconds"]``."""
    bar.set_postfix_str(label)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    meta[f"{label}_seconds"] = time.perf_counter() - start
    bar.update()
    return out


def require_fit_options(
    *,
    methods: Sequence[str],
    nuts_init: str,
    evidence: str | None,
    num_warmup: int,
    num_samples: int,
    num_chains: int,
    pointwise_thin: int,
    **_: Any,
) -> None:
    """Refuse, before any work, :func:`fit` options (its keywords) that are out of range."""
    methods = tuple(methods)
    unknown = sorted(set(methods) - set(METHODS))
    require(not unknown, "methods", f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    require(len(methods) > 0 and len(set(methods)) == len(methods), "methods", "name each method at most once")
    require(nuts_init in NUTS_INITS, "nuts_init", f"must be one of {list(NUTS_INITS)}")
    require(evidence is None or evidence in CRITERIA, "evidence", f"must be one of {[*CRITERIA, None]}")
    require(
        nuts_init != "map" or "nuts" not in methods or "map" in methods,
        "nuts_init",
        "'map' starts NUTS at the MAP: add 'map' to methods or use 'prior'",
    )
    require_positive_ints(
        num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, pointwise_thin=pointwise_thin
    )


def require_fit_memory(
    spec: ModelSpec,
    n: int,
    *,
    methods: Sequence[str],
    num_samples: int,
    num_chains: int,
    log_likelihood: bool,
    predictive: bool,
    pointwise_thin: int,
    **_: Any,
) -> None:
    """Refuse, before any work, a :func:`fit` (its checked keywords) of n observations whose data and
    pointwise groups of n numbers per kept draw would not fit in memory."""
    pointwise = (int(log_likelihood) + int(predictive)) / pointwise_thin
    stored = num_chains * num_samples * pointwise if "nuts" in methods else 0
    require_memory(FIT_BYTES * n * (spec.width + 2 + stored), "n", f"fitting n = {n} observations")


def unpack(x: Any, y: Any = None, h0: Any = None, nu0: Any = None) -> tuple[Any, Any, Any, Any]:
    """(x, y, h0, nu0) of data given as arrays, pandas objects, or one xarray Dataset ``x`` whose variables
    ``x`` (obs, feature), ``y``, ``h0`` and ``nu0`` fill the arguments not given."""
    if not (hasattr(x, "data_vars") and hasattr(x, "get")):  # not an xarray Dataset
        return x, y, h0, nu0
    require("x" in x.data_vars, "x", f"a Dataset needs a variable 'x' (obs, feature); it has {list(x.data_vars)}")
    pick = lambda given, name: x.get(name) if given is None else given  # noqa: E731
    return x["x"], pick(y, "y"), pick(h0, "h0"), pick(nu0, "nu0")


def fit(
    spec: ModelSpec,
    x: Any,
    y: Any = None,
    h0: Any = None,
    nu0: Any = None,
    *,
    features: Sequence[str] | None = None,
    class_labels: Sequence[str] | None = None,
    methods: Sequence[str] = METHODS,
    key: Array | int = 0,
    truth: Mapping[str, Any] | None = None,
    init: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    nuts_init: str = "map",
    log_likelihood: bool = True,
    predictive: bool = True,
    prior_draws: int = 500,
    pointwise_thin: int = 1,
    evidence: str | None = "auto",
    progress_bar: bool | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataTree:
    """Fit ``spec`` to (x, y) by each of ``methods`` and return everything as one DataTree.

    x is the features (n, d): an array, a pandas DataFrame or an xarray DataArray, whose column names
    (or ``features``) label the ``feature`` coordinate of the result (``a[bmi]`` in ``az.summary``);
    or an xarray Dataset with variables ``x``, ``y`` and the given ``h0``, ``nu0`` (:func:`unpack`).
    A categorical model (docs/classification.md) takes y as class codes 0..C-1 or as labels (strings:
    coded in sorted order, or in the order of ``class_labels``), and a given frozen classifier's
    class probabilities (or logits) as ``h0`` (n, C); the labels label the result's classes.
    A frozen expert given by its predictions (``frozen.mean = "given"``) takes them as ``h0`` (one
    per row, or a JAX-traceable function of x), and ``nu0`` likewise
    (:func:`~bayescmoe.model.spec.model_inputs`; inputs that already carry them pass through).

    ``truth`` (simulated data) is stored and, unless ``init`` is given, is the first start of the
    MLE and the MAP (each also tries 4 random starts). NUTS runs ``num_chains`` x (``num_warmup`` +
    ``num_samples``) and starts at the MAP (``nuts_init="map"``, which needs ``"map"`` in
    ``methods``) or at NumPyro's default (``"prior"``). The result is complete for ArviZ:
    ``log_likelihood``, ``posterior_predictive`` (``predictive``), ``prior`` and ``prior_predictive``
    (``prior_draws`` draws, proper priors only), ``log_prior``, ``unconstrained_posterior``; the
    pointwise groups keep every ``pointwise_thin``-th draw (their precision on disk is ``pointwise_dtype``
    of :func:`~bayescmoe.results.datatree.save`). ``attrs`` adds root attributes. With NUTS,
    ``evidence`` for the prompt against the frozen expert alone
    (:func:`~bayescmoe.diagnostics.predictive.prompt_evidence`: ``"auto"``, Savage-Dickey for a constant
    gate and PSIS-LOO otherwise; ``"savage-dickey"``, ``"loo"``, or None) is stored in the attribute
    ``prompt_evidence``, where :func:`describe` and :func:`collapse_report` find it.
    ``key``: a seed, whose fit half (:func:`split_seed`) the fits use and which the result stores,
    or a PRNG key. ``progress_bar``: a tqdm bar over the stages (default: when stderr is a terminal).
    """
    methods = tuple(methods)
    options = {
        "methods": methods,
        "nuts_init": nuts_init,
        "evidence": evidence,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "num_chains": num_chains,
        "log_likelihood": log_likelihood,
        "predictive": predictive,
        "pointwise_thin": pointwise_thin,
    }
    require_fit_options(**options)
    x, y, h0, nu0 = unpack(x, y, h0, nu0)
    require(y is not None, "y", "required: the targets, one per row of x")
    names = feature_names(spec, x, features)
    require(class_labels is None or spec.categorical, "class_labels", "apply only to a categorical model")
    labels = None
    if spec.categorical:
        y, labels = encode_classes(spec, y, class_labels)
    x, y = check_data(spec, model_inputs(spec, x, h0, nu0), y)
    require_fit_memory(spec, int(y.shape[0]), **options)
    k_mle, k_map, k_nuts, k_pred = jax.random.split(split_seed(key)[1] if isinstance(key, int) else key, 4)
    starts = truth if init is None else init
    meta: dict[str, Any] = {"n": int(y.shape[0]), "methods": list(methods)}
    if isinstance(key, int):
        meta["seed"] = key
    estimates = {}
    show = sys.stderr.isatty() if progress_bar is None else progress_bar
    stages = len(methods) + 1 + int("nuts" in methods and evidence is not None)
    with tqdm(total=stages, desc="bayescmoe.fit", unit="stage", disable=not show, leave=False) as bar:
        if "mle" in methods:
            estimates["mle"] = _timed(meta, bar, "mle", fit_mle, spec, x, y, key=k_mle, init=starts)
        if "map" in methods:
            estimates["map"] = _timed(meta, bar, "map", fit_map, spec, x, y, key=k_map, init=starts)
        nuts = None
        if "nuts" in methods:
            sampler = {"num_warmup": num_warmup, "num_samples": num_samples, "num_chains": num_chains}
            start = estimates["map"].params if nuts_init == "map" else None
            nuts = _timed(meta, bar, "nuts", fit_nuts, spec, x, y, key=k_nuts, init=start, **sampler)
            meta.update(sampler, nuts_init=nuts_init)
        meta.update(attrs or {})
        dt = _timed(
            meta,
            bar,
            "result",
            to_datatree,
            spec,
            x,
            y,
            nuts=nuts,
            estimates=list(estimates.values()),
            truth=truth,
            attrs=meta,
            log_likelihood=log_likelihood,
            predictive=predictive,
            prior_draws=prior_draws,
            pointwise_thin=pointwise_thin,
            key=k_pred,
            features=names,
            class_labels=labels,
        )
        if nuts is not None and evidence is not None:
            found = _timed(meta, bar, "evidence", prompt_evidence, dt, evidence)
            dt.attrs.update({ATTRIBUTE: found.to_json(), "evidence_seconds": meta["evidence_seconds"]})
    for line in fit_warnings(dt):
        warnings.warn(line, FitWarning, stacklevel=2)
    return dt


def fit_warnings(dt: xr.DataTree) -> list[str]:
    """What a result's numbers do not say by themselves, one line each: a point estimate whose observed
    information is not positive definite (its standard errors are undefined), and the sampler checks of
    :func:`~bayescmoe.diagnostics.signals.sampler_warnings`."""
    out = [
        f"{kind.upper()}: the observed information is not positive definite at the estimate: its standard errors "
        "are undefined and the parameters may not be identified there"
        for kind in ("mle", "map")
        if kind in dt.children and not dt[kind].attrs["information_pd"]
    ]
    return out + [f"NUTS: {line}" for line in sampler_warnings(dt)]


def split_seed(seed: int) -> tuple[Array, Array]:
    """(data key, fit key) of ``seed``: the two halves of ``split(PRNGKey(seed))`` (module docstring)."""
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(seed))
    return k_data, k_fit


def simulate_setting(setting: Setting, n: int, seed: int) -> tuple[Array, Array, dict[str, Any]]:
    """(inputs, y, truth) of ``setting`` at size n from the data half of ``seed`` (:func:`split_seed`): the data
    :func:`run_setting` fits."""
    truth = setting.truth.at(setting.spec, n)
    x, y = simulate(split_seed(seed)[0], setting.spec, truth, n, setting.x_dist)
    return x, y, truth


def run_setting(setting: Setting, *, n: int | None = None, seed: int = 0, **options: Any) -> xr.DataTree:
    """Simulate ``setting`` at size n (its default unless given) from ``seed`` and :func:`fit` it (``options``)."""
    n = setting.n if n is None else n
    require_positive_ints(n=n)
    bound = inspect.signature(fit).bind_partial(**options)  # an unknown option is a TypeError, as in fit
    bound.apply_defaults()
    require_fit_options(**bound.arguments)
    require_fit_memory(setting.spec, n, **bound.arguments)
    x, y, truth = simulate_setting(setting, n, seed)
    attrs = {
        "setting": setting.name,
        "paper": setting.paper,
        "regime": setting.regime,
        "description": setting.description,
        "setting_config": json.dumps(setting.to_config()),
        "n": n,
        "x_dist": setting.x_dist,
    }
    return fit(setting.spec, x, y, key=seed, truth=truth, attrs=attrs, **options)
