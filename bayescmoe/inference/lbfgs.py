"""L-BFGS (optax) compiled as one ``lax.while_loop``, with optional diagonal preconditioning.

Pure functions on flat parameter vectors, meant to be called inside ``jax.jit``: the MLE/MAP
(:mod:`bayescmoe.inference.optimize`) and the quasi-Newton M-steps of EM (:mod:`bayescmoe.inference.em`) share it.
Preconditioning optimises w with x = x0 + w / scale, scale = sqrt(max(|diag Hessian at x0|, 1)):
stiff coordinates (P2's prompt slope, curvature ~ 1 / nu0) get steps shrunk to their curvature,
which halves P2's iterations, while weakly curved ones keep scale 1. A scale below 1 would *enlarge*
steps along the flattest directions: with the earlier floor (1e-3 times the largest curvature) the
first step along a weakly identified gate sent tau to -21 (the gate weight to 0, the gradient to
1e-10) and the solver stopped there, over 1000 log-likelihood units below the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu

Array = jax.Array


#: why :func:`minimize` stopped, by code: the first two are convergence (a stationary point, or no
#: more progress along a flat ridge); "no descent" means the end was not below the start, which is
#: then returned instead
STOPS = ("gradient", "relative change", "max iterations", "non-finite", "no descent")


class Minimum(NamedTuple):
    """Outcome of :func:`minimize`: the point, its value, the gradient norm, iterations, why it stopped."""

    x: Array
    value: Array
    grad_norm: Array
    n_iter: Array
    stop: Array

    converged = property(lambda self: stopped_converged(self.stop), doc="``stop`` is one of the first two STOPS.")


def stopped_converged(stop: Array) -> Array:
    """Whether a stop code (:data:`STOPS`) is convergence: a stationary point or no progress on a flat ridge."""
    return stop <= 1


def diagonal_scale(fun: Callable[[Array], Array], x0: Array, floor: float = 1.0) -> Array:
    """sqrt(max(|diag Hessian of fun at x0|, floor)): never below sqrt(floor), so no step is enlarged."""
    curvature = jnp.abs(jnp.diag(jax.hessian(fun)(x0)))
    curvature = jnp.where(jnp.isfinite(curvature), curvature, 0.0)
    return jnp.sqrt(jnp.maximum(curvature, floor))


def minimize(
    fun: Callable[[Array], Array],
    x0: Array,
    *,
    max_iter: int,
    tol: float,
    ftol: float = 0.0,
    scale: Array | None = None,
) -> Minimum:
    """Minimise ``fun`` from ``x0``.

    Stops when the (preconditioned) gradient norm is below ``tol``, or when one iteration changes
    the value by at most ``ftol`` (1 + |value|) (SciPy's ``ftol`` test: it ends the slow drift along
    a flat ridge, as when the gate of a merged prompt is not identified), or after ``max_iter``;
    ``stop`` says which (:data:`STOPS`). The result is never worse than the start: if the end is
    not below ``fun(x0)`` (the line search accepts tiny increases), ``x0`` is returned.
    """
    scale = jnp.ones_like(x0) if scale is None else scale
    scaled = lambda w: fun(x0 + w / scale)  # noqa: E731
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(scaled)

    def step(carry):
        w, state, _ = carry
        value, grad = value_and_grad(w, state=state)
        updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=scaled)
        return optax.apply_updates(w, updates), state, value

    def small_step(state, previous):
        value = otu.tree_get(state, "value")
        return jnp.abs(previous - value) <= ftol * (1.0 + jnp.abs(value))

    def keep_going(carry):
        _, state, previous = carry
        count = otu.tree_get(state, "count")
        grad_norm = otu.tree_norm(otu.tree_get(state, "grad"))
        running = (grad_norm >= tol) & jnp.isfinite(grad_norm) & ~small_step(state, previous)
        return (count == 0) | ((count < max_iter) & running)

    w0 = jnp.zeros_like(x0)
    w, state, previous = jax.lax.while_loop(keep_going, step, (w0, opt.init(w0), jnp.inf))
    value, grad = jax.value_and_grad(scaled)(w)
    start, start_grad = jax.value_and_grad(scaled)(w0)
    descended = jnp.isfinite(value) & (value <= start)
    stop = jnp.select(
        [~jnp.isfinite(value), ~descended, jnp.linalg.norm(grad) < tol, small_step(state, previous)],
        [3, 4, 0, 1],
        default=2,
    )
    return Minimum(
        x=jnp.where(descended, x0 + w / scale, x0),
        value=jnp.where(descended, value, start),
        grad_norm=jnp.linalg.norm(jnp.where(descended, grad, start_grad) * scale),
        n_iter=otu.tree_get(state, "count"),
        stop=stop,
    )
