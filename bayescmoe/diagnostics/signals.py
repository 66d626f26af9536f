"""Collapse diagnostics of one NUTS fit: ArviZ's sampler checks and our identifiability signals.

A result DataTree (:mod:`bayescmoe.results.datatree`) goes in, numbers come out; nothing is drawn here and
nothing is judged (:mod:`bayescmoe.diagnostics.collapse` holds the thresholds and the verdict). The
science page (docs/science.md) describes the two collapses, vanishing and merging. A result of K >= 2
prompts is diagnosed one prompt at a time (``diagnose(dt, prompt=k)``, on :func:`prompt_view`).
Per scalar parameter (labelled as ``az.summary`` does, ``a[0]``):

- **sampler**: rank-normalised split R-hat, bulk and tail ESS (``az.rhat``, ``az.ess``); per fit the
  divergence count and the E-BFMI of each chain (``az.bfmi``).
- **contraction** 1 - var_post / var_prior (Schad, Betancourt, Vasishth 2021): about 1 when the data
  pin a parameter down, about 0 when the posterior is still the prior. It is computed on the
  *natural* scale when the prior has a finite variance (normal, beta, lognormal, halfnormal,
  inversegamma with alpha > 2), else on the *unconstrained* scale NUTS samples (log nu), where the
  priors in use have closed-form variances (:data:`LOG_VARIANCE`): the default InverseGamma(2, nu0)
  on nu has no variance but log nu has trigamma(2) = 0.645; log of a half-Cauchy has pi^2 / 4. A
  flat prior has no variance on any scale: NaN, scale ``"none"``. Contraction is a variance ratio,
  so it does not depend on the prior's location; a posterior that is still the prior gives about 0
  (slightly negative values are Monte-Carlo noise).
- **chain disagreement**: Kruskal-Wallis test of "all chains draw from one distribution", each chain
  thinned by its own draws / ESS so that its draws are about independent (raw autocorrelated draws
  would make any test reject); a small p-value is what a rank plot shows as non-uniform ranks.
- **multimodality**: the bimodality coefficient (g^2 + 1) / (k + 3 (m-1)^2 / ((m-2)(m-3))) of the
  marginal on the unconstrained scale (so a pile-up at a boundary is not read as a second mode);
  5/9 is its value for the uniform, 1/3 for the normal, values above 5/9 suggest two modes. Skew
  alone raises it (a lognormal(0, 0.8) has 0.66 and one peak), so the **dip** is measured too: on a
  Gaussian kernel density estimate (Silverman's bandwidth, which over-smooths two modes, never
  invents them), the density at the deepest point between its two highest peaks over the lower
  peak; 1 for one peak, or when the lower peak's side holds under :data:`MODE_MASS_MIN` of the draws.
- **gate**: the gate's share of the data, wbar = E_x[w(x)] over the stored x (lam for the constant
  gate, the mean of sigmoid(beta.x + tau) for the sigmoid one), per draw, and n wbar, the expected
  number of observations the prompt explains. **Prompt observations**: the posterior median of
  n wbar. "Near 0" means fewer than :data:`OBS_PER_PARAM` observations per prompt parameter:
  n wbar < OBS_PER_PARAM k, i.e. wbar < eps = OBS_PER_PARAM k / n, and never a share above
  :data:`GATE_EPS_MAX` (eps = min(OBS_PER_PARAM k / n, GATE_EPS_MAX)): with many prompt parameters and
  few rows, OBS_PER_PARAM k / n reaches 1, and every gate would be "near 0" (a 60-parameter adapter that
  takes 60% of 600 rows and clearly helps). The posterior (and prior) mass below eps is reported too.
  The median keeps falling as a collapse deepens, where the mass below a fixed eps need not: an
  unidentified sigmoid gate spreads its draws over decades of wbar, up into draws where the prompt
  nearly coincides with f0 and can take a larger share.
- **funnel**: prompt draws (unconstrained scale, less their linear fit on log wbar) binned by
  quantiles of log wbar; the correlation between the bin's median log wbar and the log of the
  prompt's residual spread in it, and the spread ratio
  of the lowest to the highest gate bin. A funnel widens as the gate shrinks: corr -> -1, ratio > 1.
  The **gate span** (median wbar of the highest bin / of the lowest) says how far the gate ranges.
- **MAP distance** |MAP - posterior mean| / posterior sd.
- **the prompt closest to f0** (:func:`frozen_projection`): f0's mean parameters and variance when
  the prompt has its structure, else the least-squares fit of the prompt's mean to h0 on the stored
  x, with f0's variance plus the mean squared residual (nu is a variance for every family; a
  Student-t or Laplace f0 is compared through its mean and variance; a categorical adapter's logits are
  fitted to the frozen classifier's finite log-odds against the reference class, without a variance). Against
  it: the **frozen distance** |posterior mean - its value| / posterior sd per scalar; the **frozen mean test**, the
  Mahalanobis distance D^2 of its mean parameters from the posterior of (a [, b]) and the chi^2
  tail probability p (``frozen_p``; p not small: the prompt may sit on f0); the same test on the
  draws whose gate is not near 0 (``frozen_p_gated``, NaN when fewer than :data:`GATED_SHARE_MIN` of
  the draws are): where the prompt explains data, does it sit on f0? And the **merge probe**: the
  contraction 1 - 12 var of lam under the likelihood prod_i ((1 - lam) f0_i + lam g_i) on [0, 1]
  (uniform reference), g this closest prompt held fixed, of the prompt's family: whether the data can
  tell f0 from a prompt sitting on it at all (0 for an f0 of the prompt's family and structure, where
  the prompt can be f0; a prompt of another family cannot, and lam contracts as n grows; P2's
  Definition 1 is its n -> infinity counterpart).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, special, stats

from bayescmoe.diagnostics.relabelling import matched
from bayescmoe.errors import require
from bayescmoe.model.families import family_variance
from bayescmoe.model.labels import exchangeable_groups
from bayescmoe.model.likelihood import (
    frozen_log_density,
    frozen_mean,
    frozen_variance,
    gate_log_weights,
    log_mix,
    prompt_log_density,
    prompt_mean,
)
from bayescmoe.model.params import by_label, name_of, prior_distributions, unconstrain
from bayescmoe.model.priors import ORDERED, Prior
from bayescmoe.model.spec import ModelSpec
from bayescmoe.results.datatree import classes_of, data_of, features_of, spec_of

#: gate parameters; all others belong to the prompt
GATE_PARAMS = ("lam", "beta", "tau")
#: prior families whose variance is finite on the natural scale (inversegamma: only when alpha > 2)
FINITE_VARIANCE = ("normal", "beta", "dirichlet", "lognormal", "halfnormal")
#: variance of log(parameter) under the priors without a natural-scale variance (closed forms):
#: log InverseGamma(alpha, rate) = log rate - log Gamma(alpha, 1), log HalfCauchy(s) = log s + log|Cauchy|
LOG_VARIANCE = {
    "inversegamma": lambda args: float(special.polygamma(1, args[0])),
    "halfcauchy": lambda args: np.pi**2 / 4,
}
#: the prompt "vanishes" when it explains fewer observations than this per prompt parameter ...
OBS_PER_PARAM = 10
#: ... and a share of the data below this: a gate that gives the prompt more is not near 0
GATE_EPS_MAX = 0.25
#: equal-count gate bins of the funnel statistic
FUNNEL_BINS = 5
#: grid points of the kernel density estimate of the dip
DIP_GRID = 512
#: a second peak counts only if its side of the valley holds at least this share of the draws
MODE_MASS_MIN = 0.05
#: the gated frozen test needs at least this share of the draws with the gate not near 0
GATED_SHARE_MIN = 0.05
#: lam grid of the merge probe on [0, 1] (an identified lam has sd >= 0.009 at n <= 3000)
PROBE_GRID = 1001


@dataclass(frozen=True)
class ParameterDiagnostics:
    """Every per-scalar signal of one parameter (``label`` like ``a[0]``; ``role`` gate or prompt)."""

    label: str
    name: str
    role: str
    mean: float
    sd: float
    rhat: float
    ess_bulk: float
    ess_tail: float
    contraction: float
    contraction_scale: str
    chain_p: float
    chain_rank_p: float
    bimodality: float
    dip: float
    funnel_corr: float
    funnel_ratio: float
    map_distance: float
    frozen_distance: float


@dataclass(frozen=True)
class FitDiagnostics:
    """The diagnostics of one fit: per-parameter signals plus the per-fit sampler and gate numbers."""

    n: int
    num_chains: int
    num_draws: int
    distinguishable: bool
    divergences: int
    bfmi: tuple[float, ...]
    gate_eps: float
    prompt_observations: float
    gate_mass_near_zero: float
    prior_gate_mass_near_zero: float
    gate_span: float
    frozen_mahalanobis: float
    frozen_p: float
    frozen_p_gated: float
    merge_probe: float
    parameters: tuple[ParameterDiagnostics, ...]

    def of_role(self, role: str) -> tuple[ParameterDiagnostics, ...]:
        """The parameters of the gate (``"gate"``) or of the prompt (``"prompt"``)."""
        return tuple(p for p in self.parameters if p.role == role)

    def table(self) -> pd.DataFrame:
        """One row per scalar parameter, indexed by label."""
        return pd.DataFrame([asdict(p) for p in self.parameters]).set_index("label")


def _require_nuts(dt: xr.DataTree) -> None:
    for group in ("posterior", "sample_stats", "constant_data", "observed_data"):
        require(group in dt.children, "result", f"has no {group!r} group: collapse diagnostics need a NUTS fit")


def _flat_draws(dt: xr.DataTree, name: str) -> np.ndarray:
    """Draws of parameter ``name`` as (chain * draw, *shape)."""
    values = dt["posterior"][name].values
    return values.reshape(-1, *values.shape[2:])


def prior_variance(spec: ModelSpec, name: str) -> tuple[np.ndarray, str]:
    """Prior variance of each scalar of ``name`` and its scale: natural, unconstrained (log), or none (flat)."""
    prior = spec.prior(name)
    shape = spec.shape(name)
    if spec.support(name) in ORDERED:  # order statistics: no closed form here
        return np.full(shape, np.nan), "none"
    if prior.family in FINITE_VARIANCE or (prior.family == "inversegamma" and prior.args[0] > 2):
        law = prior.distribution(spec.support(name), shape)
        return np.broadcast_to(np.asarray(law.variance, dtype=float), shape).copy(), "natural"
    if prior.family in LOG_VARIANCE:
        return np.full(shape, LOG_VARIANCE[prior.family](prior.args)), "unconstrained"
    return np.full(shape, np.nan), "none"


def contraction(post: np.ndarray, prior_var: np.ndarray | float) -> np.ndarray:
    """1 - var_post / var_prior over the leading (draw) axis: 0 = posterior is the prior, 1 = a point."""
    return 1.0 - np.var(post, axis=0) / prior_var


def mean_gate_weight(spec: ModelSpec, gate: Mapping[str, np.ndarray], inputs: np.ndarray) -> np.ndarray:
    """wbar = E_x[w(x)] over the rows of ``inputs`` for each draw of the gate parameters (leading axis); with
    K >= 2 prompts one per prompt, shape (draws, K)."""
    xj = jnp.asarray(inputs)
    params = {k: jnp.asarray(v) for k, v in gate.items()}
    one = lambda p: jnp.mean(jnp.exp(gate_log_weights(spec, p, xj)[0]), axis=0)  # noqa: E731
    return np.asarray(jax.lax.map(one, params, batch_size=256))


def gate_draws(dt: xr.DataTree, prompt: int | None = None) -> np.ndarray:
    """wbar of every posterior draw, shape (chain * draw,): of the prompt, or of prompt ``prompt`` among K >= 2."""
    spec = spec_of(dt)
    gate = {k: _flat_draws(dt, k) for k in spec.param_names if k in GATE_PARAMS}
    wbar = mean_gate_weight(spec, gate, dt["constant_data"]["x"].values)
    return wbar if prompt is None else wbar[:, prompt]


def weight_prior(spec: ModelSpec, prompt: int) -> Prior:
    """The prior of one prompt's weight lam_k alone: under a Dirichlet its Beta(alpha_k, sum alpha - alpha_k)
    marginal, otherwise the weight's prior as it is."""
    prior = spec.prior("lam")
    if prior.family != "dirichlet":
        return prior
    alpha = np.broadcast_to(prior.args, (spec.num_prompts + 1,))
    return Prior("beta", (alpha[prompt + 1], alpha.sum() - alpha[prompt + 1]))


def prior_gate_mass(
    spec: ModelSpec, inputs: np.ndarray, eps: float, num: int = 4000, key: int = 0, prompt: int | None = None
) -> float:
    """Prior probability of wbar < eps (of prompt ``prompt`` among K >= 2): the CDF of its weight's prior
    (:func:`weight_prior`), or the share of ``num`` prior draws of (beta, tau); NaN if flat."""
    names = [k for k in spec.param_names if k in GATE_PARAMS]
    if any(spec.prior(k).family == "flat" for k in names):
        return float("nan")
    if spec.gate == "constant":
        return float(weight_prior(spec, prompt or 0).distribution("unit", ()).cdf(eps))
    priors = prior_distributions(spec)
    keys = jax.random.split(jax.random.PRNGKey(key), len(names))
    draws = {k: priors[k].sample(kk, (num,)) for k, kk in zip(names, keys, strict=True)}
    wbar = mean_gate_weight(spec, draws, inputs)
    return float(np.mean((wbar if prompt is None else wbar[:, prompt]) < eps))


def expected_prompt_observations(wbar: np.ndarray, n: int) -> float:
    """Posterior median of n wbar: how many of the n observations the prompt explains (module docstring)."""
    return float(np.median(n * np.asarray(wbar)))


def gate_eps(spec: ModelSpec, n: int) -> float:
    """The gate is near 0 below eps = min(OBS_PER_PARAM k / n, GATE_EPS_MAX), k the number of prompt scalars."""
    k = sum(int(np.prod(spec.shape(name))) for name in spec.param_names if name not in GATE_PARAMS)
    return min(OBS_PER_PARAM * k / n, GATE_EPS_MAX)


def chain_disagreement(draws: np.ndarray) -> float:
    """Kruskal-Wallis p-value that the chains (rows of ``draws``) share one distribution.

    Each chain is thinned by its own draws / ESS (``az.ess`` within the chain, so disagreement
    between chains does not shrink it) to about independent draws. NaN for one chain or constant draws.
    """
    if draws.shape[0] < 2 or np.ptp(draws) == 0:
        return float("nan")
    ess = np.atleast_1d(az.ess(draws[:, None, :], chain_axis=1, draw_axis=2))
    steps = [max(1, round(draws.shape[1] / e)) if np.isfinite(e) and e > 0 else draws.shape[1] for e in ess]
    return float(stats.kruskal(*(chain[::step] for chain, step in zip(draws, steps, strict=True))).pvalue)


def chain_rank_test(draws: np.ndarray) -> float:
    """arviz-stats' multi-chain rank uniformity p-value (``mchain_uniformity_test``, the p that
    ``az.plot_rank`` prints), on the fractional ranks of ``draws`` (chain, draw) in the pooled draws.

    Shown beside :func:`chain_disagreement`, which decides the ``chain_p`` check: this one ranks the
    raw, autocorrelated draws. NaN for one chain or constant draws.
    """
    if draws.shape[0] < 2 or np.ptp(draws) == 0:
        return float("nan")
    data = xr.Dataset({"v": (("chain", "draw"), np.asarray(draws, dtype=float))})
    ranks = data.azstats.compute_ranks(dim=["chain", "draw"], relative=True)
    pvalue, _, _ = ranks.azstats.mchain_uniformity_test(dim=["chain", "draw"])
    return float(pvalue["v"])


def bimodality_coefficient(values: np.ndarray) -> float:
    """Sample bimodality coefficient (SAS; Pfister et al. 2013): > 5/9 suggests two modes."""
    m = values.size
    g = stats.skew(values, bias=False)
    k = stats.kurtosis(values, bias=False)
    return float((g**2 + 1) / (k + 3 * (m - 1) ** 2 / ((m - 2) * (m - 3))))


def kde_dip(values: np.ndarray, grid: int = DIP_GRID) -> float:
    """Density at the deepest point between the two highest peaks of a Gaussian KDE over the lower peak.

    1 for one peak, for constant values, or when the lower peak's side of the valley holds fewer than
    :data:`MODE_MASS_MIN` of the values (a bump in a sparse tail is not a mode). Silverman's bandwidth.
    """
    if np.ptp(values) == 0:
        return 1.0
    at = np.linspace(values.min(), values.max(), grid)
    density = stats.gaussian_kde(values, bw_method="silverman")(at)
    peaks = np.flatnonzero((density[1:-1] > density[:-2]) & (density[1:-1] >= density[2:])) + 1
    if peaks.size < 2:
        return 1.0
    left, right = np.sort(peaks[np.argsort(density[peaks])[-2:]])
    valley = left + int(np.argmin(density[left : right + 1]))
    lower_left = density[left] < density[right]
    side = np.mean(values < at[valley]) if lower_left else np.mean(values > at[valley])
    if side < MODE_MASS_MIN:
        return 1.0
    return float(density[valley] / min(density[left], density[right]))


def funnel(log_gate: np.ndarray, values: np.ndarray, bins: int = FUNNEL_BINS) -> tuple[float, float]:
    """(corr, ratio): correlation of bin-median log gate with log spread, and spread(low)/spread(high).

    Spreads are of the residuals of a linear fit of ``values`` on ``log_gate``: a funnel is a spread
    that changes with the gate, not a correlation (a linear dependence on a skewed gate would
    otherwise widen the tail bin by itself).
    """
    slope, intercept = np.polyfit(log_gate, values, 1)
    residuals = values - (slope * log_gate + intercept)
    groups = np.array_split(np.argsort(log_gate), bins)
    centres = np.array([np.median(log_gate[g]) for g in groups])
    spreads = np.array([np.std(residuals[g]) for g in groups])
    if np.any(spreads == 0):
        return float("nan"), float("nan")
    return float(np.corrcoef(centres, np.log(spreads))[0, 1]), float(spreads[0] / spreads[-1])


def gate_span(log_gate: np.ndarray, bins: int = FUNNEL_BINS) -> float:
    """How far the gate ranges: median wbar in the highest / in the lowest of the funnel's gate bins."""
    groups = np.array_split(np.sort(log_gate), bins)
    return float(np.exp(np.median(groups[-1]) - np.median(groups[0])))


def standardized_distance(draws: np.ndarray, point: float) -> float:
    """|posterior mean - point| / posterior sd."""
    return float(abs(np.mean(draws) - point) / np.std(draws))


def frozen_mean_test(draws: np.ndarray, frozen: np.ndarray) -> tuple[float, float]:
    """(D^2, p): Mahalanobis distance of ``frozen`` from the draws (S, k) and its chi^2_k tail probability.

    Under a Gaussian approximation of the posterior, p is the posterior tail mass beyond the frozen
    expert's mean parameters: p near 0 means the prompt's mean function is not the frozen one.
    """
    delta = np.mean(draws, axis=0) - frozen
    d2 = float(delta @ np.linalg.pinv(np.atleast_2d(np.cov(draws, rowvar=False))) @ delta)
    return d2, float(stats.chi2.sf(d2, df=draws.shape[1]))


def frozen_projection(spec: ModelSpec, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """The prompt closest to f0 on ``inputs`` (module docstring): mean parameters and variance nu."""
    f = spec.frozen
    xj = jnp.asarray(inputs)
    with_nu = "nu" in spec.param_names
    variance = float(np.mean(family_variance(f.family, frozen_variance(spec, xj), f.laplace_reading))) if with_nu else 0
    if spec.same_structure:
        mean = {k: v for k, v in f.params().items() if k != "nu"}
        return {**mean, "nu": np.asarray(variance)} if with_nu else mean
    h0 = np.asarray(frozen_mean(spec, xj))  # (n,), or a classifier's log-odds (n, C - 1)
    finite = np.all(np.isfinite(h0.reshape(len(h0), -1)), axis=1)
    if not finite.all():  # a given class probability of 0 has infinite log-odds: fit the other rows
        require(finite.any(), "h0", "every row has a class probability of 0: no finite log-odds to fit")
        inputs, xj, h0 = inputs[finite], xj[finite], h0[finite]
    z = inputs[:, : spec.dim]
    design = np.column_stack([z, np.ones(len(z))]) if spec.prompt.bias else z
    start = np.linalg.lstsq(design, h0, rcond=None)[0]  # (d [+ 1],) or (d [+ 1], C - 1)
    start = np.concatenate([start[: spec.dim].T.ravel(), start[spec.dim :].ravel()])
    size = math.prod(spec.shape("a"))

    def split(theta):
        mean = {"a": theta[:size].reshape(spec.shape("a"))}
        return mean | ({"b": theta[size:].reshape(spec.shape("b"))} if spec.prompt.bias else {})

    residual = lambda theta: jnp.ravel(prompt_mean(spec, split(theta), xj) - h0)  # noqa: E731
    jacobian = jax.jacfwd(residual)
    fit = optimize.least_squares(
        lambda t: np.asarray(residual(jnp.asarray(t))), start, jac=lambda t: np.asarray(jacobian(jnp.asarray(t)))
    )
    mean = {k: np.asarray(v) for k, v in split(fit.x).items()}
    return {**mean, "nu": np.asarray(variance + float(np.mean(fit.fun**2)))} if with_nu else mean


def merge_probe(spec: ModelSpec, inputs: np.ndarray, y: np.ndarray, prompt: Mapping[str, np.ndarray]) -> float:
    """Contraction 1 - 12 var of lam on [0, 1] under the likelihood with the prompt fixed at ``prompt``."""
    xj, yj = jnp.asarray(inputs), jnp.asarray(y)
    log_f0 = frozen_log_density(spec, xj, yj)
    log_g = prompt_log_density(spec, {k: jnp.asarray(v) for k, v in prompt.items()}, xj, yj)
    lam = np.linspace(0.0, 1.0, PROBE_GRID)
    ell = np.asarray(jax.vmap(lambda v: jnp.sum(log_mix(v, log_f0, log_g)))(jnp.asarray(lam)))
    weight = np.exp(ell - ell.max())
    weight = weight / np.trapezoid(weight, lam)
    mean = np.trapezoid(lam * weight, lam)
    return float(1.0 - 12.0 * np.trapezoid((lam - mean) ** 2 * weight, lam))


def per_label(dt: xr.DataTree, names: tuple[str, ...], stat, **kwargs) -> dict[str, float]:
    """An ArviZ statistic of the posterior (``az.rhat``, ``az.ess``), one float per scalar label."""
    result = stat(dt, var_names=list(names), **kwargs).ds
    labelled = by_label({k: result[k].values for k in names}, features=features_of(dt), classes=classes_of(dt))
    return {label: float(v) for label, v in labelled.items()}


def rhat_ess(draws: Mapping[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float]]:
    """ArviZ's rank-normalised R-hat and bulk ESS of each (chain, draw) array, keyed as ``draws``."""
    rhat = {k: float(az.rhat(np.asarray(v))) for k, v in draws.items()}
    return rhat, {k: float(az.ess(np.asarray(v), method="bulk")) for k, v in draws.items()}


#: the sampler checks Stan and ArviZ warn about: R-hat above, bulk or tail ESS per chain below, E-BFMI below
RHAT_WARN, ESS_PER_CHAIN_WARN, BFMI_WARN = 1.01, 100, 0.3


def sampler_warnings(dt: xr.DataTree) -> list[str]:
    """One line per sampler check a NUTS result fails (R-hat, bulk and tail ESS, divergences, E-BFMI), worded
    as Stan and ArviZ word them; empty when it passes them all, or has no posterior."""
    if "posterior" not in dt.children or "sample_stats" not in dt.children:
        return []
    spec = spec_of(dt)
    names = spec.param_names
    chains = dt["posterior"].sizes["chain"]
    out = []
    rhat = per_label(dt, names, az.rhat)
    worst = max(rhat, key=lambda k: rhat[k] if np.isfinite(rhat[k]) else np.inf)
    if not rhat[worst] <= RHAT_WARN:
        switching = exchangeable_groups(spec) and spec.order is None and "relabelling" not in dt.attrs
        hint = " (or the labels of exchangeable prompts switched: see bayescmoe.relabel)" if switching else ""
        out.append(
            f"R-hat {rhat[worst]:.3f} > {RHAT_WARN} ({worst}): the chains disagree; do not trust the posterior{hint}"
        )
    for method in ("bulk", "tail"):
        ess = per_label(dt, names, az.ess, method=method)
        low = min(ess, key=lambda k: ess[k] if np.isfinite(ess[k]) else -np.inf)
        if not ess[low] >= ESS_PER_CHAIN_WARN * chains:
            out.append(
                f"{method} ESS {ess[low]:.0f} < {ESS_PER_CHAIN_WARN * chains} ({ESS_PER_CHAIN_WARN} per chain, {low}): "
                f"posterior {method} estimates are unreliable; run longer chains"
            )
    divergent = int(dt["sample_stats"]["diverging"].sum())
    if divergent:
        draws = dt["sample_stats"]["diverging"].size
        out.append(f"{divergent} of {draws} transitions diverged: the posterior may be biased where they occurred")
    bfmi = np.atleast_1d(az.bfmi(dt)["energy"].values)
    if np.any(bfmi < BFMI_WARN):
        low = int(np.sum(bfmi < BFMI_WARN))
        out.append(f"E-BFMI {float(np.min(bfmi)):.2f} < {BFMI_WARN} in {low} chain(s): NUTS explored poorly")
    return out


def prompt_view(dt: xr.DataTree, prompt: int) -> xr.DataTree:
    """Prompt ``prompt`` of a K >= 2 result as a one-prompt result: its weight lam_k (under :func:`weight_prior`)
    or its gate's beta_k, tau_k, its a_k, [b_k], nu_k, the MAP's prompt labelled as the draws
    label theirs (:func:`~bayescmoe.diagnostics.relabelling.matched`), the data and the sampler statistics."""
    spec = spec_of(dt)
    priors = {**dict(spec.priors), **({"lam": weight_prior(spec, prompt)} if spec.gate == "constant" else {})}
    one = ModelSpec(spec.frozen, spec.prompts[prompt], spec.gate, priors)
    groups = {g: dt[g].to_dataset() for g in ("sample_stats", "constant_data", "observed_data")}
    groups["posterior"] = dt["posterior"].to_dataset().isel(prompt=prompt, drop=True)
    if "map" in dt.children:
        draws = {k: _flat_draws(dt, k) for k in spec.param_names}
        point = matched(spec, {k: dt["map"][k].values for k in spec.param_names}, draws)
        ds = dt["map"].to_dataset()
        groups["map"] = ds.assign({k: ds[k].copy(data=v) for k, v in point.items()}).isel(prompt=prompt, drop=True)
    view = xr.DataTree.from_dict(groups)
    view.attrs = {**dt.attrs, "bayescmoe_spec": json.dumps(one.to_config())}
    return view


def diagnose(dt: xr.DataTree, *, eps: float | None = None, prompt: int | None = None) -> FitDiagnostics:
    """All diagnostics of a NUTS result; ``eps`` overrides the gate's "near 0" level (:func:`gate_eps`).

    With K >= 2 prompts, those of prompt ``prompt`` (0..K-1) on its one-prompt view (:func:`prompt_view`),
    its gate's share wbar the weight it has among all the experts (lam_k, or the mean softmax weight
    w_k(x)), the prior mass of wbar near 0 under the whole gate's prior, and its prompt's checks against
    f0 alone: the merge probe's likelihood (1 - lam) f0 + lam g_k leaves the other prompts out.
    """
    _require_nuts(dt)
    full = spec_of(dt)
    if full.num_prompts > 1:
        known = isinstance(prompt, int) and 0 <= prompt < full.num_prompts
        require(
            known, "prompt", f"the result has K = {full.num_prompts} prompts: diagnose one, 0..{full.num_prompts - 1}"
        )
    else:
        require(prompt is None, "prompt", "the result has one prompt: leave prompt unset")
    whole, dt = dt, (dt if prompt is None else prompt_view(dt, prompt))
    spec = spec_of(dt)
    names = spec.param_names
    post = {name: dt["posterior"][name].values for name in names}
    x = dt["constant_data"]["x"].values
    require(eps is None or 0.0 < eps < 1.0, "eps", f"the gate's 'near 0' level must lie in (0, 1), got {eps}")
    eps = gate_eps(spec, x.shape[0]) if eps is None else eps
    features = features_of(dt)
    classes = classes_of(dt)
    natural = by_label(post, lead=2, features=features, classes=classes)
    free = by_label(unconstrain(spec, post), lead=2, features=features, classes=classes)
    rhat = per_label(dt, names, az.rhat)
    ess_bulk = per_label(dt, names, az.ess, method="bulk")
    ess_tail = per_label(dt, names, az.ess, method="tail")
    priors = {name: prior_variance(spec, name) for name in names}
    prior_var = by_label({name: var for name, (var, _) in priors.items()}, features=features, classes=classes)
    map_ = {k: dt["map"][k].values for k in names} if "map" in dt.children else {}
    map_ = by_label(map_, features=features, classes=classes)
    inputs, y = data_of(dt)
    closest = frozen_projection(spec, inputs)
    frozen = by_label(closest, features=features, classes=classes)
    wbar = gate_draws(whole, prompt)
    log_gate = np.log(np.maximum(wbar, np.finfo(float).tiny))
    parameters = []
    for label, draws in natural.items():
        role = "gate" if name_of(label) in GATE_PARAMS else "prompt"
        scale = priors[name_of(label)][1]
        corr, ratio = funnel(log_gate, free[label].ravel()) if role == "prompt" else (np.nan, np.nan)
        parameters.append(
            ParameterDiagnostics(
                label=label,
                name=name_of(label),
                role=role,
                mean=float(np.mean(draws)),
                sd=float(np.std(draws)),
                rhat=rhat[label],
                ess_bulk=ess_bulk[label],
                ess_tail=ess_tail[label],
                contraction=float(
                    contraction((free if scale == "unconstrained" else natural)[label].ravel(), prior_var[label])
                ),
                contraction_scale=scale,
                chain_p=chain_disagreement(draws),
                chain_rank_p=chain_rank_test(draws),
                bimodality=bimodality_coefficient(free[label].ravel()),
                dip=kde_dip(free[label].ravel()),
                funnel_corr=corr,
                funnel_ratio=ratio,
                map_distance=standardized_distance(draws, float(map_[label])) if map_ else np.nan,
                frozen_distance=standardized_distance(draws, float(frozen[label])) if label in frozen else np.nan,
            )
        )
    mean_labels = [label for label in frozen if name_of(label) in ("a", "b")]
    means = np.column_stack([natural[k].ravel() for k in mean_labels])
    at = np.array([frozen[k] for k in mean_labels])
    d2, p = frozen_mean_test(means, at)
    away = wbar >= eps
    p_gated = frozen_mean_test(means[away], at)[1] if np.mean(away) >= GATED_SHARE_MIN else np.nan
    return FitDiagnostics(
        n=int(x.shape[0]),
        num_chains=int(dt["posterior"].sizes["chain"]),
        num_draws=int(dt["posterior"].sizes["draw"]),
        distinguishable=spec.distinguishable,
        divergences=int(dt["sample_stats"]["diverging"].sum()),
        bfmi=tuple(float(v) for v in np.atleast_1d(az.bfmi(dt)["energy"].values)),
        gate_eps=float(eps),
        prompt_observations=expected_prompt_observations(wbar, x.shape[0]),
        gate_mass_near_zero=float(np.mean(wbar < eps)),
        prior_gate_mass_near_zero=prior_gate_mass(full, x, eps, prompt=prompt),
        gate_span=gate_span(log_gate),
        frozen_mahalanobis=d2,
        frozen_p=p,
        frozen_p_gated=float(p_gated),
        merge_probe=merge_probe(spec, inputs, y, closest),
        parameters=tuple(parameters),
    )
