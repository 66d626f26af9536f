"""Expectation-maximisation for the MLE, as the papers computed it (docs/science.md: *The experiments*).

E-step: the prompt's responsibility r_i = w(x_i) g(y_i | h(x_i), nu) / p(y_i | x_i)
(:func:`~bayescmoe.model.likelihood.responsibilities`).
M-step: maximise  Q = sum_i r_i [log w(x_i) + log g(y_i | h(x_i), nu)] + (1 - r_i) log(1 - w(x_i)),
which separates into a gate part and a prompt part:
- constant gate: lam = mean(r) (closed form); sigmoid gate: a weighted logistic regression of r on x,
  solved by compiled L-BFGS from the current value;
- Gaussian prompt: nu = sum r (y - h)^2 / sum r always; the mean parameters by weighted least squares in
  closed form for a linear expert, by L-BFGS on the weighted squared error otherwise;
- Student-t(df) prompt: one step of the EM of its Gaussian scale mixture (Lange, Little and Taylor 1989): with the
  latent precisions u_i = (df + 1) / (df + (y_i - h(x_i))^2 / s^2) at the current scale s, the same
  weighted least squares with weights r u, then s^2 = sum r u (y - h)^2 / sum r and nu = s^2 df / (df - 2).
  It does not decrease the prompt's part of Q, so EM stays monotone (a generalised EM);
- a Laplace prompt has no such step here (its mean's M-step is a weighted L1 regression): :func:`check_em`
  refuses it, and L-BFGS (:func:`~bayescmoe.inference.optimize.fit_mle`) fits it;
- categorical adapter (docs/classification.md): argmax over (a, [b]) of sum_i r_i log softmax(eta(x_i))_{y_i}, a
  multinomial logistic regression weighted by r, by compiled L-BFGS from the current value. It is concave for a
  linear adapter, so the step is exact; for a non-linear one it does not decrease Q (a generalised EM).

K >= 2 prompts: the E-step gives r_ik = w_k(x_i) g_k(y_i | h_k(x_i), nu_k) / p(y_i | x_i) for each prompt and
r_i0 = 1 - sum_k r_ik for the frozen expert, and
    Q = sum_i [r_i0 log w0(x_i) + sum_k r_ik (log w_k(x_i) + log g_k(y_i | h_k(x_i), nu_k))]
separates into the gate and one part per prompt:
- constant gate: lam_k = mean_i r_ik (so w0 = mean_i r_i0); softmax gate: a weighted multinomial logistic
  regression of (r_i0, r_ik) on x with the frozen expert's logit fixed at 0, by L-BFGS from the current value;
- prompt k: the one-prompt M-step above with its own responsibilities r_ik.
An ordering constraint (``spec.order``) is kept by relabelling each iterate so that the ordered parameter
increases: with alike prompts (one family, df and mean) a permutation of the prompts leaves the likelihood
unchanged, so the iterate and the MLE stay those of the unconstrained problem, sorted. With unlike prompts
the order is a real constraint that the M-step cannot keep: :func:`check_em` refuses it, naming ``order``.

Each M-step does not decrease Q, so the log-likelihood never decreases (Dempster et al. 1977).
The whole loop is one compiled ``lax.while_loop``; rows with ``mask`` 0 (padding) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bayescmoe.errors import require
from bayescmoe.inference.lbfgs import minimize
from bayescmoe.model.experts import expert_mean
from bayescmoe.model.families import adapter_log_probs, categorical_log_prob, family_scale
from bayescmoe.model.likelihood import (
    features,
    frozen_log_density,
    gate_log_weights,
    masked_log_likelihood,
    responsibilities,
)
from bayescmoe.model.spec import ModelSpec, PromptExpert

Array = jax.Array
Params = dict[str, Array]

#: inner L-BFGS of the quasi-Newton M-steps
INNER_MAX_ITER, INNER_TOL = 100, 1e-9
#: variance floor of the M-step (a prompt with no responsibility would otherwise get nu = 0)
MIN_NU = 1e-12


class EMResult(NamedTuple):
    """MLE by EM: parameters, mean log-likelihood per unmasked row and its trace, iterations, convergence."""

    params: Params
    mean_loglik: Array
    trace: Array
    n_iter: Array
    converged: Array

    @property
    def stop(self) -> Array:
        """Why EM stopped, as a code of :data:`bayescmoe.inference.lbfgs.STOPS` (relative change, max, non-finite)."""
        return jnp.where(~jnp.isfinite(self.mean_loglik), 3, jnp.where(self.converged, 1, 2))


def mean_loglik(
    spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array, mask: Array, log_f0: Array | None = None
) -> Array:
    """(1 / n) sum_i mask_i log p(y_i | x_i); ``log_f0``: the frozen expert's log-density, if known."""
    return masked_log_likelihood(spec, params, inputs, y, mask, log_f0) / jnp.sum(mask)


def gate_m_step(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, r: Array, mask: Array) -> Params:
    """argmax over the gate of sum mask [r log w + (1 - r) log(1 - w)] (K >= 2: sum mask [sum_k r_k log w_k
    + (1 - sum_k r_k) log w0])."""
    if spec.gate == "constant":
        return {"lam": jnp.sum(mask * r.T, axis=-1) / jnp.sum(mask)}
    flat0, unravel = ravel_pytree({"beta": params["beta"], "tau": params["tau"]})
    r0 = 1 - (jnp.sum(r, axis=1) if spec.num_prompts > 1 else r)

    def loss(v):
        log_w, log_w0 = gate_log_weights(spec, unravel(v), inputs)
        prompts = jnp.sum(r * log_w, axis=1) if spec.num_prompts > 1 else r * log_w
        return -jnp.sum(mask * (prompts + r0 * log_w0)) / jnp.sum(mask)

    return unravel(minimize(loss, flat0, max_iter=INNER_MAX_ITER, tol=INNER_TOL).x)


def weighted_least_squares(x: Array, y: Array, weights: Array, bias: bool) -> Params:
    """Closed-form argmin of sum weights (y - a.x [- b])^2 (normal equations)."""
    design = jnp.concatenate([x, jnp.ones_like(y)[:, None]], axis=1) if bias else x
    gram = design.T @ (weights[:, None] * design)
    coef = jnp.linalg.solve(gram, design.T @ (weights * y))
    return {"a": coef[:-1], "b": coef[-1]} if bias else {"a": coef}


def expert_m_step(
    prompt: PromptExpert,
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    r: Array,
    mask: Array,
    closed_form: bool = True,
) -> Params:
    """One prompt's M-step (module docstring) on the features ``x``: argmax over (a, [b], nu) of
    sum mask r log N(y | h(x), nu), or for a Student-t prompt one scale-mixture EM step on
    sum mask r log t_df(y | h(x), nu); ``closed_form=False`` forces L-BFGS for the mean parameters."""
    responsibility = mask * r
    weights = responsibility
    df = prompt.df
    names = ("a", "b") if prompt.bias else ("a",)

    def mean(p: Mapping[str, Array]) -> Array:
        return expert_mean(prompt.mean, x, p["a"], p.get("b"))

    if prompt.family == "student_t":
        scale = family_scale("student_t", params["nu"], df)
        weights = weights * (df + 1.0) / (df + ((y - mean(params)) / scale) ** 2)
    if closed_form and prompt.mean == "linear":
        mean_params = weighted_least_squares(x, y, weights, prompt.bias)
    else:
        flat0, unravel = ravel_pytree({k: params[k] for k in names})

        def loss(v):
            return jnp.sum(weights * (y - mean(unravel(v))) ** 2) / jnp.sum(weights)

        mean_params = unravel(minimize(loss, flat0, max_iter=INNER_MAX_ITER, tol=INNER_TOL).x)
    residual = y - mean(mean_params)
    nu = jnp.sum(weights * residual**2) / jnp.sum(responsibility)  # the Student-t's squared scale s^2
    nu = nu * df / (df - 2.0) if prompt.family == "student_t" else nu
    return {**mean_params, "nu": jnp.maximum(nu, MIN_NU)}


def adapter_m_step(
    prompt: PromptExpert, params: Mapping[str, Array], x: Array, y: Array, r: Array, mask: Array
) -> Params:
    """A categorical adapter's M-step (module docstring) on the features ``x``: argmax over (a, [b]) of
    sum mask r log softmax(0, act(a.x [+ b]))_y, by L-BFGS from ``params`` (never below its value there)."""
    names = ("a", "b") if prompt.bias else ("a",)
    flat0, unravel = ravel_pytree({k: params[k] for k in names})
    weights = mask * r
    total = jnp.maximum(jnp.sum(weights), jnp.finfo(weights.dtype).tiny)

    def loss(v):
        p = unravel(v)
        eta = expert_mean(prompt.mean, x, p["a"].T, p.get("b"))
        return -jnp.sum(weights * categorical_log_prob(adapter_log_probs(eta), y)) / total

    return unravel(minimize(loss, flat0, max_iter=INNER_MAX_ITER, tol=INNER_TOL).x)


def prompt_m_step(
    spec: ModelSpec,
    params: Mapping[str, Array],
    inputs: Array,
    y: Array,
    r: Array,
    mask: Array,
    closed_form: bool = True,
) -> Params:
    """The prompts' M-step: :func:`expert_m_step` (:func:`adapter_m_step` for a categorical adapter) of each
    prompt on its own responsibilities (r (n,), or (n, K) with K >= 2 prompts)."""
    x = features(spec, inputs)

    def step(prompt: PromptExpert, p: Mapping[str, Array], r_k: Array) -> Params:
        if spec.categorical:
            return adapter_m_step(prompt, p, x, y, r_k, mask)
        return expert_m_step(prompt, p, x, y, r_k, mask, closed_form)

    if spec.num_prompts == 1:
        return step(spec.prompt, params, r)
    names = [k for k in ("a", "b", "nu") if k in params]
    steps = [step(p, {k: params[k][i] for k in names}, r[:, i]) for i, p in enumerate(spec.prompts)]
    return {k: jnp.stack([step[k] for step in steps]) for k in steps[0]}


def in_order(spec: ModelSpec, params: Mapping[str, Array]) -> Params:
    """The prompts permuted so that ``spec.order``'s parameter increases (unchanged without an order)."""
    if spec.order is None:
        return dict(params)
    perm = jnp.argsort(params[spec.order])
    return {k: v[perm] for k, v in params.items()}


def em_step(
    spec: ModelSpec,
    params: Mapping[str, Array],
    inputs: Array,
    y: Array,
    mask: Array,
    closed_form: bool = True,
    log_f0: Array | None = None,
) -> Params:
    """One E-step and M-step (the prompts relabelled to keep ``spec.order``)."""
    r = responsibilities(spec, params, inputs, y, log_f0)
    new = {
        **gate_m_step(spec, params, inputs, r, mask),
        **prompt_m_step(spec, params, inputs, y, r, mask, closed_form),
    }
    return in_order(spec, new)


def check_em(spec: ModelSpec) -> None:
    """Refuse a prompt family without an M-step here (Laplace), naming ``prompt.family`` (``prompt[k].family``
    with K >= 2), and an ordering constraint over unlike prompts, naming ``order`` (module docstring)."""
    for k, p in enumerate(spec.prompts):
        require(
            p.family != "laplace",
            "prompt.family" if spec.num_prompts == 1 else f"prompt[{k}].family",
            "EM has no M-step for a laplace prompt; fit it by L-BFGS (fit_mle, or the sweep's 'direct' estimator)",
        )
    require(
        spec.order is None or len(set(spec.prompts)) == 1,
        "order",
        f"EM keeps {spec.order!r} increasing by relabelling the prompts, which leaves the likelihood unchanged only "
        "when they are alike (one family, df and mean); fit these unlike prompts by L-BFGS (fit_mle)",
    )


@partial(jax.jit, static_argnames=("spec", "max_iter", "closed_form", "relative"))
def em_fit(
    spec: ModelSpec,
    params0: Mapping[str, Array],
    inputs: Array,
    y: Array,
    mask: Array,
    max_iter: int = 2000,
    tol: float = 1e-10,
    closed_form: bool = True,
    relative: bool = False,
) -> EMResult:
    """Iterate :func:`em_step` until the mean log-likelihood gains less than ``tol`` (or ``max_iter``).

    ``relative``: stop when the gain is below ``tol`` |log-likelihood| instead (the rule of the
    papers' group's public EM scripts, with tol = 1e-6 and at most 2000 iterations). A Laplace prompt is
    refused (:func:`check_em`).
    """
    check_em(spec)
    params0 = {k: jnp.asarray(v, dtype=float) for k, v in params0.items()}
    log_f0 = frozen_log_density(spec, inputs, y)  # once per fit, not per iteration
    ll0 = mean_loglik(spec, params0, inputs, y, mask, log_f0)
    trace0 = jnp.full(max_iter + 1, jnp.nan).at[0].set(ll0)

    def small(ll, prev):
        return jnp.abs(ll - prev) < tol * (jnp.abs(ll) if relative else 1.0)

    def keep_going(state):
        _, ll, prev, it, _ = state
        return (it == 0) | ((it < max_iter) & ~small(ll, prev) & jnp.isfinite(ll))

    def step(state):
        params, ll, _, it, trace = state
        new = em_step(spec, params, inputs, y, mask, closed_form, log_f0)
        new_ll = mean_loglik(spec, new, inputs, y, mask, log_f0)
        return new, new_ll, ll, it + 1, trace.at[it + 1].set(new_ll)

    params, ll, prev, it, trace = jax.lax.while_loop(keep_going, step, (params0, ll0, ll0 - 1.0, 0, trace0))
    return EMResult(params, ll, trace, it, jnp.isfinite(ll) & small(ll, prev))
