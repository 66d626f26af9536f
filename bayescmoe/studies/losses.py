"""Errors of an estimate against the truth, per parameter group, and the losses of docs/science.md: *The rates*.

Groups: constant gate (P1) lam, a, b, nu; sigmoid gate (P2) beta, tau, exp_tau, a (P2's eta), nu; a
categorical adapter (docs/classification.md: *Rates: homogeneous against heterogeneous adapters*) has
no nu, and its a (C - 1, d) and b (C - 1,) hold one row per non-reference class. Vectors and matrices use
the Euclidean (Frobenius) norm. When the prompt's slope merges along a direction u (a merging truth,
:func:`merge_direction`, a flattened for an adapter), the slope's error is also split into ``a_merge`` =
|(a_hat - a*) . u| and ``a_perp``, the norm of the rest: the slowed rates apply along u only.
Losses (*reconstructed*: the papers' displayed losses could not be read; docs/science.md, *The rates*), with g the gate
quantity (lam, or exp(tau)), theta the prompt block ((a, b, nu), or (beta, a, nu) for P2; without nu for an adapter) and
Delta* = ||(prompt mean parameters*, nu*) - (pre-trained parameters, nu0)||:
    D1 = |g - g*| + g* ||theta - theta*||                 (distinguishable)
    D2 = |g - g*| Delta*^2 + g* Delta* ||theta - theta*||   (not distinguishable)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bayescmoe.errors import require
from bayescmoe.model.spec import ModelSpec
from bayescmoe.model.truth import Truth

#: the groups of the slope's error along and across its merging direction
MERGE_GROUPS = ("a_merge", "a_perp")


def error_groups(spec: ModelSpec, merging: bool = False) -> tuple[str, ...]:
    """The parameter groups whose errors a sweep records (with :data:`MERGE_GROUPS` after ``a`` if ``merging``):
    the gate's, the prompt's a and b (if it has a bias), and nu (none for a categorical adapter)."""
    require(spec.num_prompts == 1, "setting", "the rate sweeps record the errors of one prompt")
    gate = ("lam",) if spec.gate == "constant" else ("beta", "tau", "exp_tau")
    groups = (*gate, "a", *(("b",) if spec.prompt.bias else ()), *(() if spec.categorical else ("nu",)))
    if not merging:
        return groups
    at = groups.index("a") + 1
    return (*groups[:at], *MERGE_GROUPS, *groups[at:])


def merge_direction(truth: Truth) -> np.ndarray | None:
    """The unit direction u along which the prompt's slope a* moves with n (None if it does not move); flattened
    for an adapter's a of shape (C - 1, d)."""
    rate = truth.rates.get("a")
    coef = None if rate is None else np.ravel(np.asarray(rate.coef, dtype=float))
    return None if coef is None or not np.any(coef) else coef / np.linalg.norm(coef)


@np.errstate(over="ignore")
def group_errors(
    spec: ModelSpec,
    est: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    direction: np.ndarray | None = None,
) -> dict[str, float]:
    """|estimate - truth| per group (norm for vectors; exp_tau compares exp(tau), inf if it overflows).

    With the merging ``direction`` u of the slope, also ``a_merge`` and ``a_perp`` (module docstring).
    """
    out = {}
    for group in error_groups(spec):
        if group == "exp_tau":
            out[group] = float(abs(np.exp(est["tau"]) - np.exp(truth["tau"])))
        else:
            out[group] = float(np.linalg.norm(np.asarray(est[group]) - np.asarray(truth[group])))
    if direction is not None:
        error = np.ravel(np.asarray(est["a"]) - np.asarray(truth["a"]))
        along = float(error @ direction)
        out.update(a_merge=abs(along), a_perp=float(np.linalg.norm(error - along * direction)))
    return out


def delta_star(spec: ModelSpec, truth: Mapping[str, np.ndarray]) -> float:
    """Distance of the true prompt (mean parameters and nu) from the pre-trained expert's."""
    frozen = spec.frozen.params()
    keys = [k for k in ("a", "b", "nu") if k in truth]
    diff = [np.ravel(np.asarray(truth[k]) - frozen.get(k, 0.0)) for k in keys]
    return float(np.linalg.norm(np.concatenate(diff)))


@np.errstate(over="ignore")
def losses(spec: ModelSpec, est: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]) -> dict[str, float]:
    """D1 and D2 of the module docstring."""
    if spec.gate == "constant":
        g_hat, g_true, block = float(est["lam"]), float(truth["lam"]), [k for k in ("a", "b", "nu") if k in truth]
    else:
        g_hat, g_true = float(np.exp(est["tau"])), float(np.exp(truth["tau"]))
        block = [k for k in ("beta", "a", "b", "nu") if k in truth]
    theta = np.linalg.norm(np.concatenate([np.ravel(np.asarray(est[k]) - np.asarray(truth[k])) for k in block]))
    gate, delta = abs(g_hat - g_true), delta_star(spec, truth)
    return {"D1": gate + g_true * theta, "D2": gate * delta**2 + g_true * delta * theta}
