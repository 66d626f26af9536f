"""MLE and MAP by L-BFGS (optax) compiled end to end, with several starts and the observed information.

The MAP maximises  sum_i log p(y_i | x_i, theta) + log prior(theta)  over the natural parameters
theta, optimised on the unconstrained scale u = T^-1(theta) *without* the transform's Jacobian
(like NumPyro's AutoDelta), so under ``flat`` priors the MAP is the MLE. The objective is divided
by n: on the summed objective, float32 quasi-Newton stopped early at a wrong point; the mean behaves.

A mixture likelihood is unbounded: the prompt can interpolate a few points with nu -> 0. A start
that ends with nu below ``min_nu`` (default 1e-6 var(y); with K >= 2 prompts, any prompt's nu) is
*degenerate* and is kept only when every start is; the estimate reports it. The theory of over-fitted
mixtures assumes instead a compact parameter space, variances bounded below: ``nu_floor`` fits on
nu >= nu_floor (:func:`floored`; docs/open-questions.md: *2. An extra prompt for the MLE*).

The stopping rules are read on the mean objective, but above 10^4 rows they tighten with n: a gradient
below min(tol, GRAD_TOL_TOTAL / n) and a change per iteration below min(ftol, FTOL_TOTAL / n), i.e. at most
0.01 and 1e-6 on the summed log-likelihood. Where the information is nearly singular (a prompt merging into
f0) its weak direction's gradient at one posterior sd from the maximum is about sqrt(lambda / n); at n = 1e6
the fixed rules stopped L-BFGS 0.1 to 0.6 log-likelihood units short of the maximum in 3 of 8 trial fits
of merging cells (lam 0.17 away, about one sd), started at the truth, so large-n errors measured the start.

``converged`` is honest: it holds only when the solver stopped at a stationary point or on a flat
ridge (:data:`bayescmoe.inference.lbfgs.STOPS`) *and* the end is not degenerate. A small gradient
where the gate is saturated (fewer than one expected observation from the prompt, from any of K >= 2
prompts, or from the frozen expert), at a variance spike, or where a sigmoid or tanh prompt (or adapter) has
run off into its flat tails (:func:`saturated_prompt`: its slope below 1e-8 on most rows, so that its
parameters no longer move the likelihood) is not convergence; ``stop_reason`` names what stopped the solver.

Starts: the given ones, random ones, and with K >= 2 prompts the data-driven :func:`spread_starts`
(benchmarks/multistart_prompts.py: 4 random starts alone missed the best maximum of two prompts on up to
18% of a model's data sets; with the spread starts on none of 360).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bayescmoe.errors import require
from bayescmoe.inference.em import expert_m_step, in_order
from bayescmoe.inference.lbfgs import STOPS, diagonal_scale, minimize, stopped_converged
from bayescmoe.model.experts import ACTIVATIONS
from bayescmoe.model.labels import align_prompts
from bayescmoe.model.likelihood import (
    features,
    frozen_log_density,
    frozen_mean,
    frozen_variance,
    gate_log_weights,
    log_likelihood,
    prompt_log_density,
)
from bayescmoe.model.params import Params, constrain, flat_labels, log_posterior, log_prior, unconstrain
from bayescmoe.model.spec import ModelSpec, check_data, check_params

Array = jax.Array


class Solve(NamedTuple):
    """Outcome of one L-BFGS run from one start, on the unconstrained scale."""

    u: Params
    objective: Array
    grad_norm: Array
    n_iter: Array
    stop: Array

    converged = property(lambda self: stopped_converged(self.stop), doc="Convergence before any degeneracy check.")


class PointEstimate(NamedTuple):
    """MLE or MAP with convergence report and observed information in natural coordinates."""

    kind: str
    params: dict[str, np.ndarray]
    se: dict[str, np.ndarray]
    information: np.ndarray
    labels: tuple[str, ...]
    log_likelihood: float
    log_prior: float
    n_iter: int
    grad_norm: float
    converged: bool
    stop_reason: str
    information_pd: bool
    degenerate: bool
    best_start: int
    start_objectives: np.ndarray


@partial(jax.jit, static_argnames="spec")
def log_likelihood_and_prior(
    spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array
) -> tuple[Array, Array]:
    """(sum_i log p(y_i | x_i, theta), log prior(theta)) at natural parameters theta."""
    return jnp.sum(log_likelihood(spec, params, inputs, y)), log_prior(spec, params)


def floored(spec: ModelSpec, u: Params, nu_floor: float | Array = 0.0) -> Params:
    """Natural parameters of ``u`` under a variance floor: T(u) with ``nu_floor`` added to every prompt's nu, so
    that nu = nu_floor + exp(u_nu) >= nu_floor (an ordering of nu is kept); ``nu_floor = 0`` is :func:`constrain`
    (and so is a spec without nu, a categorical one)."""
    params = constrain(spec, u)
    return {**params, "nu": params["nu"] + nu_floor} if "nu" in params else params


#: a start whose nu lies at or below the floor (a data-driven one) starts this fraction of the floor above it
FLOOR_NUDGE = 1e-3


def unfloored(spec: ModelSpec, params: Mapping[str, Array], nu_floor: float = 0.0) -> Params:
    """The inverse of :func:`floored`: u of natural ``params``, each nu first moved to at least
    (1 + :data:`FLOOR_NUDGE`) ``nu_floor``."""
    if "nu" not in params:
        return unconstrain(spec, params)
    nu = jnp.maximum(jnp.asarray(params["nu"], dtype=float) - nu_floor, FLOOR_NUDGE * nu_floor)
    return unconstrain(spec, {**params, "nu": nu})


def objective(
    u: Params,
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    mask: Array,
    log_f0: Array | None = None,
    block_rows: int | None = None,
    nu_floor: float | Array = 0.0,
) -> Array:
    """The minimised function: -log posterior(theta) / n at theta = :func:`floored` (u), no Jacobian; n = number
    of unmasked rows.

    ``log_f0``: the frozen expert's log-density of (inputs, y), computed once per dataset; ``block_rows``:
    :func:`log_posterior`'s.
    """
    params = floored(spec, u, nu_floor)
    return -log_posterior(spec, params, inputs, y, mask, log_f0, block_rows) / jnp.maximum(jnp.sum(mask), 1.0)


#: relative change of the mean objective in one iteration below which L-BFGS stops (SciPy-style ftol)
FTOL = 1e-10
#: with n rows the stopping rules are at least as tight as these on the summed objective: a gradient of
#: GRAD_TOL_TOTAL / n and a change of FTOL_TOTAL / n per iteration of the mean one (module docstring)
GRAD_TOL_TOTAL, FTOL_TOTAL = 1e-2, 1e-6
#: a fit whose variance ends below this fraction of var(y) is a degenerate spike (module docstring)
SPIKE_FRACTION = 1e-6
#: rows used to estimate the diagonal preconditioner (the mean objective's curvature does not grow with n)
PRECONDITIONER_ROWS = 1024


def _lbfgs(
    u0: Params,
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    mask: Array,
    max_iter: int,
    tol: float,
    ftol: float = FTOL,
    precondition: bool = True,
    nu_floor: float | Array = 0.0,
) -> Solve:
    flat0, unravel = ravel_pytree(u0)
    m = min(PRECONDITIONER_ROWS, y.shape[0])
    scale = (
        diagonal_scale(lambda v: objective(unravel(v), spec, inputs[:m], y[:m], mask[:m], nu_floor=nu_floor), flat0)
        if precondition
        else None
    )
    log_f0 = frozen_log_density(spec, inputs, y)  # once per solve, not per iteration
    fun = lambda v: objective(unravel(v), spec, inputs, y, mask, log_f0, nu_floor=nu_floor)  # noqa: E731
    n = jnp.maximum(jnp.sum(mask), 1.0)
    tol, ftol = jnp.minimum(tol, GRAD_TOL_TOTAL / n), jnp.minimum(ftol, FTOL_TOTAL / n)
    res = minimize(fun, flat0, max_iter=max_iter, tol=tol, ftol=ftol, scale=scale)
    return Solve(unravel(res.x), res.value, res.grad_norm, res.n_iter, res.stop)


lbfgs_solve = jax.jit(_lbfgs, static_argnames=("spec", "max_iter", "precondition"))
lbfgs_solve.__doc__ = (
    "Minimise :func:`objective` from ``u0`` by L-BFGS (:func:`bayescmoe.inference.lbfgs.minimize`), diagonally "
    "preconditioned unless ``precondition=False``, on nu >= ``nu_floor`` (:func:`floored`)."
)


@partial(jax.jit, static_argnames=("spec", "max_iter", "precondition"))
def batched_lbfgs_solve(
    u0: Params,
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    mask: Array,
    max_iter: int,
    tol: float,
    precondition: bool = True,
) -> Solve:
    """:func:`lbfgs_solve` over a leading replicate axis of (u0, x, y, mask), all at one padded size.

    One program for a whole batch, the path an accelerator wants. On CPU a loop of compiled fits is
    faster (the batch's line searches run in lockstep; docs/performance.md); results equal the loop's.
    """

    def one(u: Params, xx: Array, yy: Array, m: Array) -> Solve:
        return _lbfgs(u, spec, xx, yy, m, max_iter, tol, precondition=precondition)

    return jax.vmap(one)(u0, inputs, y, mask)


#: the stop reasons that count as convergence
CONVERGED = STOPS[:2]
#: stop reasons of a degenerate end, which override the solver's own
SATURATED, SPIKE, SATURATED_PROMPT = "saturated gate", "variance spike", "saturated prompt"
#: a saturating activation's slope below this is flat (tanh beyond |z| = 9.9, sigmoid beyond 18.4) ...
FLAT_SLOPE = 1e-8
#: ... and a prompt whose unit is flat on more than this share of the rows has run off into its tails
FLAT_SHARE = 0.5


def prompt_share(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, mask: Array) -> tuple[Array, Array]:
    """(sum_i w(x_i), sum_i w0(x_i)) over the unmasked rows: the expected observations of the prompt (of each
    prompt, shape (K,), with K >= 2) and of the frozen expert."""
    log_w, log_w0 = gate_log_weights(spec, params, inputs)
    return jnp.sum(mask * jnp.exp(log_w).T, axis=-1), jnp.sum(mask * jnp.exp(log_w0))


def saturated_prompt(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, mask: Array) -> bool:
    """Whether some unit act(a.x [+ b]) of a sigmoid or tanh prompt (an adapter's logit, for a categorical one) has
    slope act' below :data:`FLAT_SLOPE` on more than :data:`FLAT_SHARE` of the unmasked rows: its parameters
    then hardly move the likelihood, and a small gradient there is the flat tail of a fit running off to
    infinity (a saturated adapter's slopes grew to 1e3-1e5 in trial fits), not a stationary point."""
    x = features(spec, inputs)
    for k, prompt in enumerate(spec.prompts):
        if prompt.mean not in ("sigmoid", "tanh"):
            continue
        a = params["a"] if spec.num_prompts == 1 else params["a"][k]
        z = x @ jnp.atleast_2d(a).T  # (n, units): one unit, or C - 1 logits
        if "b" in params:
            z = z + (params["b"] if spec.num_prompts == 1 else params["b"][k])
        slope = jax.vmap(jax.vmap(jax.grad(ACTIVATIONS[prompt.mean])))(z)
        flat = jnp.sum(mask[:, None] * (slope < FLAT_SLOPE), axis=0) / jnp.sum(mask)
        if bool(jnp.any(flat > FLAT_SHARE)):
            return True
    return False


def spiked(params: Mapping[str, Array], min_nu: float) -> bool:
    """Whether a fit ended in a variance spike: some prompt's nu below ``min_nu`` (never without a nu)."""
    return "nu" in params and bool(np.any(np.asarray(params["nu"]) < min_nu))


def stop_reason(
    spec: ModelSpec, params: Mapping[str, Array], inputs: Array, mask: Array, code: int, min_nu: float
) -> str:
    """Why a fit ended: a variance spike (any nu < ``min_nu``), a saturated gate (an expert, the frozen one or a
    prompt, expected to explain fewer than one observation), a saturated prompt (:func:`saturated_prompt`), else
    the solver's own reason ``STOPS[code]``."""
    if spiked(params, min_nu):
        return SPIKE
    if min(float(np.min(v)) for v in prompt_share(spec, params, inputs, mask)) < 1.0:
        return SATURATED
    if saturated_prompt(spec, params, inputs, mask):
        return SATURATED_PROMPT
    return STOPS[int(code)]


def best_start(objectives: np.ndarray, spikes: np.ndarray) -> int:
    """Index of the best finite objective among the starts that did not end in a spike (any, if all did)."""
    ranked = np.where(np.isfinite(objectives), objectives, np.inf) + np.where(spikes, np.inf, 0.0)
    return int(np.argmin(ranked)) if np.isfinite(ranked).any() else int(np.nanargmin(objectives))


def random_starts(key: Array, spec: ModelSpec, y: Array, num: int) -> list[Params]:
    """Starts drawn on the unconstrained scale: N(0, 1) each, log nu centred at log var(y) (each prompt's; under
    ``order = "nu"`` the smallest's, the others' log-increments N(0, 1) on the log scale; a categorical adapter
    has no nu)."""
    shift = jnp.log(jnp.var(y))
    if spec.support("nu") == "positive_ordered":
        shift = jnp.zeros(spec.shape("nu")).at[0].set(shift)
    starts = []
    for k in jax.random.split(key, num):
        keys = jax.random.split(k, len(spec.param_names))
        u = {name: jax.random.normal(kk, spec.shape(name)) for name, kk in zip(spec.param_names, keys, strict=True)}
        if "nu" in u:
            u["nu"] = u["nu"] + shift
        starts.append(u)
    return starts


#: spread starts: a point is an outlier of f0 beyond this many of its sd, and the others weigh this much
OUTLIER_SD, INLIER_WEIGHT = 2.0, 1e-3
#: the ordered parameter of a spread start is moved this much more per prompt, so that ties (tau = 0) order
TIE_SPREAD = 1e-3


def spread_starts(spec: ModelSpec, inputs: Array, y: Array) -> list[Params]:
    """Data-driven starts (unconstrained) for K >= 2 prompts, none for one; for categorical adapters
    :func:`_adapter_params`.

    The points f0 explains worst, more than :data:`OUTLIER_SD` sd from h0(x), weigh 1, the others
    :data:`INLIER_WEIGHT` (so that every band has a fit, even without outliers); the points sorted by their
    residual e = y - h0(x) are cut into K bands of equal weight, and prompt k starts at the weighted Gaussian
    M-step (:func:`~bayescmoe.inference.em.expert_m_step`) on band k: the bands in increasing order, and in
    decreasing order too when the prompts differ; the gate at equal weights; relabelled to keep ``spec.order``.
    """
    if spec.categorical:  # residuals y - h0(x) mean nothing for a class
        return [unconstrain(spec, _adapter_params(spec, inputs, y))]
    if spec.num_prompts == 1:
        return []
    return [unconstrain(spec, p) for p in _spread_params(spec, inputs, y)]


#: the adapters' total weight at their data-driven start, and the ridge that keeps their alone-fit finite
ADAPTER_WEIGHT, ADAPTER_RIDGE = 0.9, 1e-3


@partial(jax.jit, static_argnames="spec")
def _adapter_params(spec: ModelSpec, inputs: Array, y: Array) -> Params:
    """The start of categorical adapters: each fitted alone to every row (a ridge-penalised multinomial
    regression, by L-BFGS), together weighing :data:`ADAPTER_WEIGHT`. A random adapter fits worse than p0, so
    from random starts a constant gate falls to 0 before the adapter learns, where its logits get no gradient."""
    names = [n for n in ("a", "b") if n in spec.param_names]
    flat, unravel = ravel_pytree({n: jnp.zeros(spec.shape(n)) for n in names})

    def loss(v: Array) -> Array:
        p = unravel(v)
        return -jnp.mean(prompt_log_density(spec, p, inputs, y)) + ADAPTER_RIDGE * jnp.sum(v**2)

    adapter = unravel(minimize(loss, flat, max_iter=500, tol=1e-6).x)
    weight = ADAPTER_WEIGHT / spec.num_prompts
    if spec.gate == "constant":
        gate = {"lam": jnp.full(spec.shape("lam"), weight)}
    else:  # softmax over (0, tau_k): w_k = e^tau / (1 + K e^tau)
        tau = jnp.log(weight / (1.0 - ADAPTER_WEIGHT))
        gate = {"beta": jnp.zeros(spec.shape("beta")), "tau": jnp.full(spec.shape("tau"), tau)}
    params = {**gate, **adapter}
    if spec.order is not None:
        params[spec.order] = params[spec.order] + TIE_SPREAD * jnp.arange(spec.num_prompts)
    return params


@partial(jax.jit, static_argnames="spec")
def _spread_params(spec: ModelSpec, inputs: Array, y: Array) -> list[Params]:
    """The natural parameters of :func:`spread_starts`."""
    k, x = spec.num_prompts, features(spec, inputs)
    e = y - frozen_mean(spec, inputs)
    weight = jnp.where(jnp.abs(e) > OUTLIER_SD * jnp.sqrt(frozen_variance(spec, inputs)), 1.0, INLIER_WEIGHT)
    order = jnp.argsort(e)
    share = jnp.cumsum(weight[order]) / jnp.sum(weight)  # of the weight up to each sorted point
    band = jnp.zeros(y.shape, int).at[order].set(jnp.minimum((share * k).astype(int), k - 1))
    if spec.gate == "constant":
        gate = {"lam": jnp.full(k, 1.0 / (k + 1))}
    else:
        gate = {"beta": jnp.zeros((k, spec.dim)), "tau": jnp.zeros(k)}
    starts = []
    for bands in [range(k)] if len(set(spec.prompts)) == 1 else [range(k), range(k)[::-1]]:
        steps = []
        for p, j in zip(spec.prompts, bands, strict=True):
            init = {"a": jnp.zeros(spec.dim), "b": jnp.zeros(())} if p.bias else {"a": jnp.zeros(spec.dim)}
            gaussian = replace(p, family="gaussian", df=None)
            steps.append(expert_m_step(gaussian, init, x, y, weight * (band == j), jnp.ones_like(y)))
        params = in_order(spec, {**gate, **{n: jnp.stack([step[n] for step in steps]) for n in steps[0]}})
        if spec.order is not None:
            params[spec.order] = params[spec.order] + TIE_SPREAD * jnp.arange(k)
        starts.append(params)
    return starts


@partial(jax.jit, static_argnames="spec")
def score_outer_product(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array) -> Array:
    """sum_i s_i s_i^T, s_i the gradient of log p(y_i | x_i) in the flattened natural parameters."""
    flat, unravel = ravel_pytree(dict(params))

    def pointwise(v: Array, xi: Array, yi: Array) -> Array:
        return log_likelihood(spec, unravel(v), xi[None], yi[None])[0]

    scores = jax.vmap(jax.grad(pointwise), in_axes=(None, 0, 0))(flat, inputs, y)
    return scores.T @ scores


def has_laplace_prompt(spec: ModelSpec) -> bool:
    """Whether a prompt is Laplace: its log density's second derivative in the location is a point mass."""
    return any(p.family == "laplace" for p in spec.prompts)


@partial(jax.jit, static_argnames="spec")
def observed_information(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array) -> Array:
    """Hessian of -log posterior in the flattened natural parameters (Fisher information for flat priors).

    With a Laplace prompt the likelihood's part is :func:`score_outer_product` instead: the second
    derivative of -|y - mu| / b in mu is 0 except at the mode, where autodiff cannot see the point mass
    that holds the location information (docs/open-questions.md: *Non-Gaussian prompts*).
    """
    flat, unravel = ravel_pytree(dict(params))
    if not has_laplace_prompt(spec):
        return jax.hessian(lambda v: -log_posterior(spec, unravel(v), inputs, y))(flat)
    prior = jax.hessian(lambda v: -log_prior(spec, unravel(v)))(flat)
    return score_outer_product(spec, params, inputs, y) + prior


def standard_errors(spec: ModelSpec, information: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
    """sqrt(diag(information^-1)) per parameter; NaN where the information is not positive definite."""
    try:
        np.linalg.cholesky(information)
        variances, pd = np.diag(np.linalg.inv(information)), True
    except np.linalg.LinAlgError:
        variances, pd = np.full(information.shape[0], np.nan), False
    se = np.sqrt(variances)
    out, i = {}, 0
    for name in sorted(spec.param_names):
        size = math.prod(spec.shape(name))
        out[name] = se[i : i + size].reshape(spec.shape(name))
        i += size
    return out, pd


def fit_map(
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    *,
    key: Array | int = 0,
    init: Mapping[str, Array] | Sequence[Mapping[str, Array]] | None = None,
    num_random_starts: int = 4,
    max_iter: int = 1000,
    tol: float = 1e-6,
    min_nu: float | None = None,
    nu_floor: float = 0.0,
    kind: str = "map",
) -> PointEstimate:
    """MAP of ``spec`` (the MLE when its priors are flat), best of the given, the random and (K >= 2 prompts)
    the :func:`spread_starts`, in that order (``best_start`` indexes them).

    ``init``: one or several natural-parameter dicts (the truth, when known) tried first; with
    ``num_random_starts=0`` the only ones (no spread starts either: the maximum next to ``init``). With
    K >= 2 exchangeable prompts and no ``order`` the estimate's prompts are labelled as the first init
    labels its own (:func:`~bayescmoe.model.labels.align_prompts`; the likelihood does not change), so
    that a table compares each prompt with its truth.
    ``min_nu``: variance below which a solution counts as a degenerate spike (see module doc).
    ``nu_floor``: maximise over nu >= ``nu_floor`` only (every prompt's; :func:`floored`), the compact parameter
    space of the over-fitted-mixture theory; ``init``'s nu must lie above it. An estimate on the floor is the
    maximum over that space, not a stationary point.
    ``kind`` labels the estimate (its group name in a result).
    """
    x_np, y_np = check_data(spec, inputs, y)
    k = len(flat_labels(spec))
    flat = all(spec.prior(name).family == "flat" for name in spec.param_names)
    require(
        not flat or y_np.shape[0] > k,
        "y",
        f"{y_np.shape[0]} observation(s) for {k} parameters: the MLE needs more observations than parameters",
    )
    inits = [init] if isinstance(init, Mapping) else list(init or [])
    require(num_random_starts >= 0, "num_random_starts", "must be >= 0")
    require(inits or num_random_starts > 0, "init", "give an init or at least one random start")
    require(math.isfinite(nu_floor) and nu_floor >= 0, "nu_floor", f"must be a finite number >= 0, got {nu_floor}")
    inits = [check_params(spec, p, "init") for p in inits]
    require(not spec.categorical or nu_floor == 0, "nu_floor", "a categorical adapter has no variance to floor")
    require(
        all(np.all(np.asarray(p.get("nu", np.inf)) > nu_floor) for p in inits),
        "init",
        f"every nu of an init must lie above nu_floor = {nu_floor:g}",
    )
    inputs, y = jnp.asarray(x_np), jnp.asarray(y_np)
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    starts = [unfloored(spec, p, nu_floor) for p in inits]
    if num_random_starts > 0:  # random starts draw nu's excess over the floor; spread starts are moved above it
        spread = spread_starts(spec, inputs, y)
        if nu_floor > 0:
            spread = [unfloored(spec, constrain(spec, u), nu_floor) for u in spread]
        starts += random_starts(key, spec, y, num_random_starts) + spread
    mask = jnp.ones_like(y)
    solves = [lbfgs_solve(u0, spec, inputs, y, mask, max_iter, tol, nu_floor=nu_floor) for u0 in starts]
    objectives = np.array([float(s.objective) for s in solves])
    require(
        np.isfinite(objectives).any(),
        "data",
        f"the objective is not finite at any of the {len(starts)} starts: x or y too large for float64? rescale them",
    )
    min_nu = SPIKE_FRACTION * float(jnp.var(y)) if min_nu is None else min_nu
    spikes = np.array([spiked(floored(spec, s.u, nu_floor), min_nu) for s in solves])
    best = best_start(objectives, spikes)
    solve = solves[best]
    params = floored(spec, solve.u, nu_floor)
    if inits and spec.order is None:
        params = {k: jnp.asarray(v) for k, v in align_prompts(spec, params, inits[0]).items()}
    reason = stop_reason(spec, params, inputs, mask, solve.stop, min_nu)
    info = np.asarray(observed_information(spec, params, inputs, y))
    se, pd = standard_errors(spec, info)
    loglik, logprior = log_likelihood_and_prior(spec, params, inputs, y)
    return PointEstimate(
        kind=kind,
        params={k: np.asarray(v) for k, v in params.items()},
        se=se,
        information=info,
        labels=flat_labels(spec),
        log_likelihood=float(loglik),
        log_prior=float(logprior),
        n_iter=int(solve.n_iter),
        grad_norm=float(solve.grad_norm),
        converged=reason in CONVERGED,
        stop_reason=reason,
        information_pd=pd,
        degenerate=bool(spikes[best]),
        best_start=best,
        start_objectives=objectives,
    )


def fit_mle(spec: ModelSpec, inputs: Array, y: Array, **kwargs) -> PointEstimate:
    """Maximum-likelihood estimate: :func:`fit_map` under flat priors."""
    return fit_map(spec.with_priors("flat"), inputs, y, kind="mle", **kwargs)
