"""The collapse in Bayesian terms: learning coefficient, WBIC, WAIC and the evidence for a prompt.

Where the prompt is not distinguishable the contaminated MoE is a *singular* model (docs/science.md:
*When learning slows*): its Fisher information degenerates, the Laplace approximation and BIC
fail, and the free energy F_n = -log Z grows like n L_n(w0) + lambda log n with a learning coefficient
lambda <= k/2 (Watanabe 2009). Each estimator is one small function of power-posterior draws
(:mod:`bayescmoe.inference.tempered`); l(theta) = sum_i log p(y_i | x_i, theta), n L_n = -l.

- :func:`learning_coefficient` (Lau et al. 2025, eq. 6): lambda_hat = n t (E[L_n] - L_n(w*)) =
  t (l(w*) - E[l]) at the power t = 1/log n, the expectation over the power posterior localised at the
  MLE w* by N(w*, 1/gamma) on the unconstrained scale; its error is the spread over chains. In a
  regular model lambda_hat -> k/2 as long as gamma is small against n t times the curvature
  (p2-distinguishable, n = 2000: 9.09 at gamma = 1, 8.28 at 10, 5.61 at 100, for k/2 = 9).
- :func:`wbic` (Watanabe 2013, eq. 5): E[-l] over the power posterior with the spec's prior at
  t = 1/log n; it estimates F_n, with error O_p(sqrt(log n)) even in singular models.
- :func:`waic` (Watanabe 2010): elpd_waic = sum_i (log E[p(y_i | theta)] - Var[log p(y_i | theta)])
  from the pointwise log-likelihood. ArviZ 1.x dropped it for PSIS-LOO (reported beside it); it is
  kept here because it is the criterion whose asymptotics singular learning theory proves: WAIC
  and Bayes LOO are asymptotically equivalent in singular models too, but only WAIC's derivation
  does not rest on the posterior being approximately Gaussian.
- :func:`thermodynamic_integration` (Friel, Hurn and Wyse 2014, eq. 10) and :func:`stepping_stone`
  (Xie et al. 2011, eq. 8): log Z = int_0^1 E_t[l] dt over the ladder of
  :func:`~bayescmoe.inference.tempered.ladder`; two estimators from the same draws, each with its
  Monte Carlo error (ArviZ's MCSE of a mean, independent runs per temperature).
- :func:`laplace_log_evidence`: log Z ~ l(theta^) + log pi(theta^) + (k/2) log 2 pi - log det(H)/2
  at the MAP, the regular-model check.
- The frozen expert alone has no free parameter: its log evidence is sum_i log f0(y_i | x_i)
  exactly, and log Z - that is the log Bayes factor for "a prompt is needed".

:func:`bayescmoe.studies.singular.singular_report` runs all of them on a saved NUTS result
(``bayescmoe singular RESULT.nc``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import arviz as az
import jax
import numpy as np
from scipy.special import logsumexp

from bayescmoe.errors import require
from bayescmoe.inference.optimize import PointEstimate
from bayescmoe.inference.tempered import PowerDraws

Array = jax.Array


class Estimate(NamedTuple):
    """A Monte Carlo estimate and its standard error."""

    value: float
    se: float


def mcse_mean(values: np.ndarray) -> float:
    """ArviZ's Monte Carlo standard error of the mean of (chain, draw) values."""
    return float(az.mcse(np.asarray(values, dtype=float), method="mean"))


def learning_coefficient(draws: PowerDraws, loglik_center: float) -> tuple[Estimate, np.ndarray]:
    """lambda_hat = t (l(w*) - E[l]) per chain of a localised power posterior: (mean, s.e. over chains), chains."""
    per_chain = draws.power * (loglik_center - draws.loglik.mean(axis=1))
    se = float(np.std(per_chain, ddof=1) / math.sqrt(per_chain.size)) if per_chain.size > 1 else float("nan")
    return Estimate(float(per_chain.mean()), se), per_chain


def wbic(draws: PowerDraws) -> Estimate:
    """WBIC = E_t[-l] at t = 1/log n under the spec's prior (Watanabe 2013)."""
    return Estimate(float(-draws.loglik.mean()), mcse_mean(draws.loglik))


def waic(pointwise: np.ndarray) -> tuple[Estimate, float]:
    """(elpd_waic +/- s.e., p_waic) from log p(y_i | theta_s) of shape (chain, draw, n) (Watanabe 2010)."""
    flat = np.reshape(pointwise, (-1, np.shape(pointwise)[-1]))
    lppd = logsumexp(flat, axis=0) - math.log(flat.shape[0])
    penalty = np.var(flat, axis=0, ddof=1)
    elpd_i = lppd - penalty
    return Estimate(float(elpd_i.sum()), float(math.sqrt(elpd_i.size * np.var(elpd_i)))), float(penalty.sum())


def thermodynamic_integration(ladder_draws: Sequence[PowerDraws]) -> Estimate:
    """log Z = int_0^1 E_t[l] dt by the trapezoid rule with Friel et al.'s (2014) variance correction.

    d E_t[l] / dt = Var_t[l], so the trapezoid's leading error over [b_{k-1}, b_k] is
    (b_k - b_{k-1})^2 (V_k - V_{k-1}) / 12, subtracted here.
    """
    powers = np.array([d.power for d in ladder_draws])
    means = np.array([d.loglik.mean() for d in ladder_draws])
    variances = np.array([d.loglik.var(ddof=1) for d in ladder_draws])
    steps = np.diff(powers)
    value = np.sum(steps * (means[1:] + means[:-1]) / 2) - np.sum(steps**2 * np.diff(variances) / 12)
    weights = np.zeros_like(powers)  # d value / d means_k
    weights[1:] += steps / 2
    weights[:-1] += steps / 2
    se = math.sqrt(sum((w * mcse_mean(d.loglik)) ** 2 for w, d in zip(weights, ladder_draws, strict=True)))
    return Estimate(float(value), se)


def stepping_stone(ladder_draws: Sequence[PowerDraws]) -> Estimate:
    """log Z = sum_k log E_{t_{k-1}}[exp((t_k - t_{k-1}) l)] (Xie et al. 2011), with the delta-method s.e."""
    value, variance = 0.0, 0.0
    for lower, upper in itertools.pairwise(ladder_draws):
        scaled = (upper.power - lower.power) * lower.loglik
        top = scaled.max()
        weights = np.exp(scaled - top)
        value += top + math.log(weights.mean())
        variance += (mcse_mean(weights) / weights.mean()) ** 2
    return Estimate(float(value), math.sqrt(variance))


def laplace_log_evidence(estimate: PointEstimate) -> float:
    """log Z ~ l(theta^) + log pi(theta^) + (k/2) log 2 pi - log det(H) / 2 at a MAP with Hessian H."""
    require(estimate.kind == "map", "estimate", f"the Laplace approximation needs the MAP, got the {estimate.kind}")
    sign, logdet = np.linalg.slogdet(estimate.information)
    if sign <= 0:
        return float("nan")
    k = estimate.information.shape[0]
    return float(estimate.log_likelihood + estimate.log_prior + 0.5 * k * math.log(2 * math.pi) - 0.5 * logdet)
