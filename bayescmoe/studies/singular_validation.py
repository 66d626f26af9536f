"""Validation of the singular-learning estimators: known coefficients, quadrature, Laplace.

- **Regular**: in a distinguishable setting the learning coefficient is k/2 (Watanabe 2009, Theorem 6.1).
- **Minimally singular, known**: the smallest contaminated MoE with a free prompt, :data:`SMALL`
  (d = 1, constant gate, prompt N(a x, nu), frozen N(x, 0.1); k = 3), with the prompt equal to the
  frozen expert (:data:`MERGED`). Its true parameters form the line {a = a0, nu = nu0} x lam (and the
  branch lam = 0). At a point of the line with 0 < lam < 1 the expected log-likelihood ratio
  K(w) = E KL is smooth, zero along the line and ~ lam^2 (da, dnu) I (da, dnu)^T across it, with I the
  prompt's Fisher information at the frozen parameters (positive definite: d/da and d/dnu of a
  Gaussian density, x y-phi and the heat-equation term phi'' / 2, are linearly independent). The
  Hessian of K has rank 2, so the local learning coefficient is rank / 2 = (k - 1)/2 = 1 (Lau et al.
  2025, section 3: a "minimally singular" point). Near the branch lam -> 0 only lam is constrained
  and the coefficient is 1/2.
- **Evidence**: for :data:`SMALL`, log Z by quadrature over (logit lam, a, log nu) with SciPy's
  densities (:func:`quadrature_log_evidence`), independent of the JAX likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from scipy import stats
from scipy.special import logsumexp

from bayescmoe.diagnostics.singular import learning_coefficient
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_mle
from bayescmoe.inference.tempered import power_posterior
from bayescmoe.model.params import flat_labels
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert

#: k = 3: lam, a (d = 1), nu; frozen N(y | x, 0.1), the default priors Beta(1, 1), N(0, 3), InverseGamma(2, 0.1)
SMALL = ModelSpec(FrozenExpert("gaussian", weight=(1.0,), nu=0.1), PromptExpert(bias=False))
#: an identified prompt: learning coefficient k/2 = 1.5
REGULAR = {"lam": 0.4, "a": np.array([-1.0]), "nu": 0.1}
#: the prompt equal to the frozen expert: (k - 1)/2 = 1 on the line, 1/2 near lam = 0
MERGED = {"lam": 0.4, "a": np.array([1.0]), "nu": 0.1}


def local_learning_coefficient(
    spec: ModelSpec,
    truth: Mapping[str, Any],
    n: int,
    *,
    seed: int = 0,
    start: Mapping[str, Any] | None = None,
    **sampler,
) -> dict[str, float]:
    """Simulate n pairs, w* = the MLE reached from ``start`` (default the truth), lambda_hat at t = 1/log n."""
    x, y = simulate(jax.random.PRNGKey(seed), spec, truth, n)
    mle = fit_mle(spec, x, y, init=dict(start or truth), num_random_starts=0)
    draws = power_posterior(spec, x, y, [1 / math.log(n)], key=seed + 1, center=mle.params, **sampler)[0]
    llc, _ = learning_coefficient(draws, mle.log_likelihood)
    lam = float(np.mean(mle.params["lam"])) if "lam" in mle.params else float("nan")
    return {"n": n, "llc": llc.value, "llc_se": llc.se, "k_half": len(flat_labels(spec)) / 2, "lam_mle": lam}


def quadrature_box(
    x: np.ndarray, y: np.ndarray, width: float = 8.0, **sampler: int | float | str | bool
) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of (logit lam, a, log nu) for :data:`SMALL`: the posterior mean +/- ``width`` sd (a NUTS fit)."""
    post = fit_nuts(SMALL, x, y, key=1, **sampler).samples
    u = np.stack(
        [np.log(post["lam"] / (1 - post["lam"])).ravel(), post["a"][..., 0].ravel(), np.log(post["nu"]).ravel()]
    )
    return u.mean(1) - width * u.std(1), u.mean(1) + width * u.std(1)


def quadrature_log_evidence(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, points: int = 56) -> float:
    """log Z of :data:`SMALL`: the trapezoid rule on a ``points``^3 grid of (logit lam, a, log nu), SciPy densities."""
    grids = [np.linspace(a, b, points) for a, b in zip(lo, hi, strict=True)]
    u_lam, a, u_nu = (g.ravel() for g in np.meshgrid(*grids, indexing="ij"))
    lam, nu = 1 / (1 + np.exp(-u_lam)), np.exp(u_nu)
    log_prior = (  # the priors on the natural scale and the Jacobians of lam = sigmoid(u), nu = exp(u)
        stats.beta(1, 1).logpdf(lam)
        + np.log(lam * (1 - lam))
        + stats.norm(0, 3).logpdf(a)
        + stats.invgamma(2, scale=SMALL.frozen.nu).logpdf(nu)
        + u_nu
    )
    x, y = np.asarray(x)[:, 0], np.asarray(y)
    f0 = stats.norm.logpdf(y, x, math.sqrt(SMALL.frozen.nu))
    total = np.zeros_like(lam)
    for rows in np.array_split(np.arange(lam.size), max(1, lam.size * y.size // 4_000_000)):
        f1 = stats.norm.logpdf(y[None, :], a[rows, None] * x[None, :], np.sqrt(nu[rows, None]))
        total[rows] = np.logaddexp(np.log1p(-lam[rows, None]) + f0, np.log(lam[rows, None]) + f1).sum(1)
    cell = np.prod([g[1] - g[0] for g in grids])
    return float(logsumexp(total + log_prior) + math.log(cell))
