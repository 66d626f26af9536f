"""Does the prompt predict better than the frozen expert alone? LOO against the frozen log score.

The frozen expert alone has no free parameter, so its leave-one-out log predictive density is
exactly its log density, sum_i log f0(y_i | h0(x_i), nu0). The contaminated MoE's is ArviZ's
PSIS-LOO (``az.loo``). Their pointwise difference gives the gain and its standard error
sqrt(n var_i(elpd_i - log f0_i)), as ``az.compare`` computes for two models.

The Bayes factor of the same two models, for the constant gate (P1), where f0 alone is the nested
model lam = 0 and lam's prior is independent of the prompt's: by Savage-Dickey (Dickey 1971),
BF(f0 alone : contaminated) = p(lam = 0 | y) / pi(lam = 0), and since the likelihood at lam = 0 does
not depend on the prompt theta, Rao-Blackwellised over the posterior draws of theta,

    1 / BF = 1 / E_theta|y[ 1 / integral pi(l) exp(l_n(l, theta) - l_n(0)) dl ],

with l_n the total log-likelihood: one 1-D integral per draw (:func:`savage_dickey_log_bf`); its
standard error is the delta method on ArviZ's MCSE of the mean of 1 / integral over the chains.

**Is a prompt needed?** :func:`prompt_evidence` answers with one :class:`Evidence`: for a constant
gate with proper priors, the Savage-Dickey log Bayes factor, and the prompt is needed when
log BF >= :data:`LOG_BF_NEEDED` (Kass and Raftery 1995: 2 log BF >= 2 is "positive" evidence). For a
sigmoid gate f0 alone is only a limit of the model (tau -> -infinity), with no point mass to put a
Savage-Dickey ratio on; there the criterion is PSIS-LOO against f0's exact LOO (:func:`prompt_gain`),
which costs one ``az.loo`` of the stored pointwise log-likelihood, and the prompt is needed when the
gain exceeds both :data:`LOO_GAIN_NEEDED` and :data:`LOO_Z_NEEDED` standard errors: below 4 the
normal approximation of the difference is unreliable and the models predict alike (Sivula, Magnusson
and Vehtari 2022), so the simpler f0 suffices. The stepping-stone ladder of
:func:`bayescmoe.studies.singular.ladder_evidence` is the expensive log Bayes factor for any gate.
"""

from __future__ import annotations

from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import stats

from bayescmoe.errors import require
from bayescmoe.inference.predictive import pointwise_log_likelihood
from bayescmoe.model.likelihood import frozen_log_density, log_mix, prompt_log_density
from bayescmoe.results.datatree import data_of, spec_of
from bayescmoe.results.evidence import Evidence

#: the Savage-Dickey integral over lam: geometric on [1e-12, 1e-2] (a posterior piled at lam -> 0 has
#: a scale near 1e-4), then even steps of 0.0025 (an identified lam has sd >= 0.009 at n <= 3000)
LAM_GRID = np.concatenate([[0.0], np.geomspace(1e-12, 1e-2, 200)[:-1], np.linspace(1e-2, 1.0, 397)])
#: posterior draws the Savage-Dickey average uses at most (evenly thinned over each chain)
SAVAGE_DICKEY_DRAWS = 500
#: a prompt is called for when log BF reaches this (Kass and Raftery 1995: 2 log BF >= 2 is "positive")
LOG_BF_NEEDED = 1.0
#: ... or, by PSIS-LOO, when its gain over f0 exceeds this and LOO_Z_NEEDED standard errors
LOO_GAIN_NEEDED, LOO_Z_NEEDED = 4.0, 2.0
#: the criteria of :func:`prompt_evidence` (``auto``: Savage-Dickey where it applies, else LOO)
CRITERIA = ("auto", "savage-dickey", "loo")


class PromptGain(NamedTuple):
    """elpd_loo of the contaminated MoE, the frozen expert's log score, their difference and its s.e."""

    elpd_loo: float
    elpd_loo_se: float
    p_loo: float
    frozen_log_score: float
    gain: float
    gain_se: float
    pareto_k_max: float
    pareto_k_bad: int
    good_k: float

    def render(self) -> str:
        """Three lines: the two scores, the gain in s.e. units, PSIS's reliability."""
        z = self.gain / self.gain_se if self.gain_se > 0 else np.inf
        return (
            f"elpd_loo (contaminated MoE) {self.elpd_loo:.2f} +/- {self.elpd_loo_se:.2f}, p_loo {self.p_loo:.2f}\n"
            f"log score of the frozen expert alone (exact LOO: no free parameter) {self.frozen_log_score:.2f}\n"
            f"gain of the prompt {self.gain:.2f} +/- {self.gain_se:.2f} ({z:.1f} s.e.); "
            f"Pareto k max {self.pareto_k_max:.2f}, {self.pareto_k_bad} above {self.good_k:.2f}"
        )


def frozen_log_scores(dt: xr.DataTree) -> np.ndarray:
    """log f0(y_i | h0(x_i), nu0) of every stored observation."""
    x, y = data_of(dt)
    return np.asarray(frozen_log_density(spec_of(dt), jnp.asarray(x), jnp.asarray(y)))


def with_log_likelihood(dt: xr.DataTree) -> xr.DataTree:
    """The result itself if it stores the pointwise log-likelihood, else a copy with it computed from the draws."""
    if "log_likelihood" in dt.children:
        return dt
    require("posterior" in dt.children, "result", "has no posterior: a pointwise log-likelihood needs NUTS draws")
    spec = spec_of(dt)
    inputs, y = data_of(dt)
    post = {k: dt["posterior"][k].values for k in spec.param_names}
    pointwise = pointwise_log_likelihood(spec, jnp.asarray(inputs), jnp.asarray(y), post)
    out = dt.copy()
    out["log_likelihood"] = xr.DataTree(xr.Dataset({"y": (("chain", "draw", "obs"), pointwise)}))
    return out


def prompt_gain(dt: xr.DataTree) -> PromptGain:
    """PSIS-LOO of a NUTS result against the frozen expert alone (the pointwise log-likelihood computed
    from the draws when the result does not store it)."""
    loo = az.loo(with_log_likelihood(dt), pointwise=True)
    frozen = frozen_log_scores(dt)
    diff = np.asarray(loo.elpd_i).ravel() - frozen
    k = np.asarray(loo.pareto_k).ravel()
    return PromptGain(
        elpd_loo=float(loo.elpd),
        elpd_loo_se=float(loo.se),
        p_loo=float(loo.p),
        frozen_log_score=float(np.sum(frozen)),
        gain=float(np.sum(diff)),
        gain_se=float(np.sqrt(diff.size * np.var(diff))),
        pareto_k_max=float(np.max(k)),
        pareto_k_bad=int(np.sum(k > loo.good_k)),
        good_k=float(loo.good_k),
    )


def savage_dickey_log_bf(dt: xr.DataTree, max_draws: int = SAVAGE_DICKEY_DRAWS) -> Evidence:
    """log Z(contaminated) - log Z(f0 alone) of a constant-gate NUTS result, with its s.e. (module docstring).

    The integral over lam is the trapezoid rule in the prior's CDF on :data:`LAM_GRID` (exact for a
    flat integrand, finite at a Beta prior's singular boundary); at most ``max_draws`` draws.
    """
    spec = spec_of(dt)
    require(spec.gate == "constant", "result", "the Savage-Dickey Bayes factor needs the constant gate (lam = 0)")
    require(
        spec.num_prompts == 1,
        "evidence",
        f"Savage-Dickey is computed for one prompt; with K = {spec.num_prompts} prompts use 'loo'",
    )
    prior = spec.prior("lam").distribution("unit", ())  # a Beta (a 'dirichlet' prior on one weight is one too)
    require(
        all(spec.prior(k).family != "flat" for k in spec.param_names),
        "result",
        "the Bayes factor needs proper priors (flat priors were used)",
    )
    require("posterior" in dt.children, "result", "has no posterior: the Bayes factor averages over its draws")
    x, y = (jnp.asarray(v) for v in data_of(dt))
    log_f0 = frozen_log_density(spec, x, y)
    names = [k for k in spec.param_names if k != "lam"]
    chains, num = dt["posterior"].sizes["chain"], dt["posterior"].sizes["draw"]
    step = max(1, -(-chains * num // max_draws))
    draws = {
        k: jnp.asarray(dt["posterior"][k].values[:, ::step].reshape(-1, *dt["posterior"][k].shape[2:])) for k in names
    }
    mass = np.diff(stats.beta.cdf(LAM_GRID, float(prior.concentration1), float(prior.concentration0)))
    lam = jnp.asarray(LAM_GRID)
    base = jnp.sum(log_f0)

    def log_integral(theta):
        log_g = prompt_log_density(spec, theta, x, y)
        gain = jax.vmap(lambda v: jnp.sum(log_mix(v, log_f0, log_g)) - base)(lam)
        return jax.scipy.special.logsumexp(jnp.logaddexp(gain[:-1], gain[1:]) - np.log(2.0), b=mass)

    logs = np.asarray(jax.lax.map(log_integral, draws, batch_size=25)).reshape(chains, -1)
    shift = np.max(-logs)
    inverse = np.exp(-logs - shift)  # 1 / integral, scaled: its mean is 1 / BF
    mean = float(np.mean(inverse))
    se = float(az.mcse(inverse, method="mean")) / mean if inverse.shape[1] > 3 else float("nan")
    return Evidence("savage-dickey", float(-(np.log(mean) + shift)), se, LOG_BF_NEEDED)


def loo_evidence(dt: xr.DataTree) -> Evidence:
    """The PSIS-LOO gain of the prompt over f0 alone (:func:`prompt_gain`) as evidence (module docstring)."""
    gain = prompt_gain(dt)
    return Evidence("loo", gain.gain, gain.gain_se, max(LOO_GAIN_NEEDED, LOO_Z_NEEDED * gain.gain_se))


def prompt_evidence(dt: xr.DataTree, criterion: str = "auto") -> Evidence:
    """Is a prompt needed? :class:`Evidence` by ``criterion`` (module docstring): ``"savage-dickey"``,
    ``"loo"``, or ``"auto"``, Savage-Dickey for a constant gate with proper priors and LOO otherwise."""
    require(criterion in CRITERIA, "evidence", f"unknown criterion {criterion!r}; choose from {list(CRITERIA)}")
    spec = spec_of(dt)
    proper = all(spec.prior(k).family != "flat" for k in spec.param_names)
    savage_dickey = spec.gate == "constant" and spec.num_prompts == 1 and proper
    if criterion == "savage-dickey" or (criterion == "auto" and savage_dickey):
        return savage_dickey_log_bf(dt)
    return loo_evidence(dt)


def frozen_baseline(dt: xr.DataTree) -> az.ELPDDataLOO:
    """The frozen expert alone as ArviZ compares models: its leave-one-out scores, which are exactly its log
    densities log f0(y_i | x_i) (no free parameter: p_loo = 0, no importance sampling, Pareto k = 0), so that
    ``az.compare({"frozen": frozen_baseline(dt), "contaminated": dt})`` is one line."""
    require("posterior" in dt.children, "result", "has no posterior: the comparison needs the fit's draws")
    scores = frozen_log_scores(dt)
    draws = dt["posterior"].sizes["chain"] * dt["posterior"].sizes["draw"]
    return az.ELPDDataLOO(
        elpd=float(np.sum(scores)),
        se=float(np.sqrt(scores.size * np.var(scores))),
        p=0.0,
        n_samples=draws,
        n_data_points=scores.size,
        scale="log",
        warning=False,
        good_k=0.7,
        elpd_i=xr.DataArray(scores, dims=["obs"]),
        pareto_k=xr.DataArray(np.zeros_like(scores), dims=["obs"]),
    )
