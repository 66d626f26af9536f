"""The singular-learning report of one saved NUTS fit: about 34 NUTS runs on power posteriors.

:func:`singular_report` (``bayescmoe singular RESULT.nc``) runs the estimators of
:mod:`bayescmoe.diagnostics.singular` on a result: the local learning coefficient at the MLE next
to the MAP, WBIC, WAIC and PSIS-LOO, the log evidence by stepping-stone and thermodynamic
integration over one ladder of power posteriors (:func:`log_evidence`), the Laplace approximation,
and the log Bayes factor for a prompt against the frozen expert alone. Beside them: for a constant
gate the Savage-Dickey Bayes factor from the posterior draws alone
(:func:`~bayescmoe.diagnostics.predictive.savage_dickey_log_bf`), and the collapse report's verdict
given the ladder's Bayes factor (:func:`~bayescmoe.diagnostics.collapse.collapse_report`).
:func:`ladder_evidence` is the ladder's Bayes factor alone (``bayescmoe collapse --evidence ladder``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import arviz as az
import jax
import numpy as np
import xarray as xr

from bayescmoe.defaults import GAMMA, NUM_TEMPERATURES
from bayescmoe.diagnostics.collapse import collapse_report
from bayescmoe.diagnostics.predictive import (
    LOG_BF_NEEDED,
    frozen_log_scores,
    savage_dickey_log_bf,
    with_log_likelihood,
)
from bayescmoe.diagnostics.singular import (
    Estimate,
    laplace_log_evidence,
    learning_coefficient,
    stepping_stone,
    thermodynamic_integration,
    waic,
    wbic,
)
from bayescmoe.errors import require, require_positive_ints
from bayescmoe.inference.optimize import PointEstimate, fit_map, fit_mle
from bayescmoe.inference.predictive import proper_prior
from bayescmoe.inference.tempered import PowerDraws, ladder, power_posterior
from bayescmoe.model.params import flat_labels
from bayescmoe.model.spec import ModelSpec
from bayescmoe.results.datatree import data_of, params_of, spec_of
from bayescmoe.results.evidence import Evidence

Array = jax.Array


@dataclass(frozen=True)
class SingularReport:
    """Every number of ``bayescmoe singular`` for one result (keys of :meth:`to_dict` below)."""

    n: int
    k: int
    power: float
    gamma: float
    llc: float
    llc_se: float
    llc_chains: tuple[float, ...]
    loglik_mle: float
    mle_stop_reason: str
    wbic: float
    wbic_se: float
    waic: float
    waic_se: float
    p_waic: float
    elpd_loo: float
    elpd_loo_se: float
    log_evidence: float
    log_evidence_se: float
    log_evidence_ti: float
    log_evidence_ti_se: float
    log_evidence_laplace: float
    frozen_log_evidence: float
    log_bayes_factor: float
    log_bayes_factor_savage_dickey: float
    verdict: str
    num_temperatures: int
    divergences: int

    @property
    def k_half(self) -> float:
        """k/2, the learning coefficient of a regular model with k free parameters."""
        return self.k / 2

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers, the headline ones first (``llc``, ``llc_se``, ``k_half``, ``wbic``, ``waic``, ...)."""
        head = ("llc", "llc_se", "k_half", "wbic", "waic", "log_evidence", "log_evidence_se", "log_bayes_factor")
        rest = asdict(self)
        rest["llc_chains"] = list(self.llc_chains)
        return {**{key: getattr(self, key) for key in head}, **{k: v for k, v in rest.items() if k not in head}}

    def llc_comment(self) -> str:
        """What to make of the learning coefficient beside k/2 (empty when it sits at or below k/2)."""
        if self.llc - 2 * self.llc_se <= self.k_half:
            return ""
        return (
            "\n  above k/2 by more than 2 s.e.: a learning coefficient never exceeds k/2, so this estimate is biased "
            "(w* not at a local maximum, a localiser too weak for n t times the curvature, or too few draws); "
            "do not read it as the model's"
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as one JSON object (NaN written as null)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.to_dict().items()}
        return json.dumps(clean)

    def render(self) -> str:
        """A short text report."""
        z = self.log_evidence - self.log_evidence_ti
        se = math.hypot(self.log_evidence_se, self.log_evidence_ti_se)
        return "\n".join(
            [
                f"n = {self.n}, k = {self.k} free parameters, power t = 1/log n = {self.power:.4g}; "
                f"w* = the MLE next to the MAP (log-likelihood {self.loglik_mle:.3f}, {self.mle_stop_reason})",
                f"learning coefficient (local, gamma = {self.gamma:g}) {self.llc:.3f} +/- {self.llc_se:.3f}"
                f"   k/2 = {self.k_half:g}   ratio {self.llc / self.k_half:.3f}" + self.llc_comment(),
                f"WBIC {self.wbic:.2f} +/- {self.wbic_se:.2f}   (-log evidence {-self.log_evidence:.2f})",
                f"WAIC (elpd scale) {self.waic:.2f} +/- {self.waic_se:.2f}, p_waic {self.p_waic:.2f}"
                f"   PSIS-LOO {self.elpd_loo:.2f} +/- {self.elpd_loo_se:.2f}",
                f"log evidence: stepping-stone {self.log_evidence:.3f} +/- {self.log_evidence_se:.3f}, "
                f"thermodynamic integration {self.log_evidence_ti:.3f} +/- {self.log_evidence_ti_se:.3f} "
                f"(difference {z:+.3f}, {abs(z) / se if se > 0 else math.inf:.1f} s.e.; "
                f"{self.num_temperatures + 1} temperatures), Laplace {self.log_evidence_laplace:.3f}",
                f"frozen expert alone (exact) {self.frozen_log_evidence:.3f}   "
                f"log Bayes factor for a prompt {self.log_bayes_factor:.3f}"
                + (
                    f" (Savage-Dickey {self.log_bayes_factor_savage_dickey:.3f})"
                    if math.isfinite(self.log_bayes_factor_savage_dickey)
                    else ""
                ),
                f"collapse report's verdict given this Bayes factor: {self.verdict}",
                f"divergent transitions over all tempered runs: {self.divergences}",
            ]
        )


def _result_pointwise(dt: xr.DataTree) -> tuple[np.ndarray, Estimate]:
    """(pointwise log-likelihood (chain, draw, n), PSIS-LOO elpd) of a NUTS result, computed if not stored."""
    dt = with_log_likelihood(dt)
    loo = az.loo(dt)
    return dt["log_likelihood"]["y"].values, Estimate(float(loo.elpd), float(loo.se))


def log_evidence(
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    *,
    init: Mapping[str, Any],
    key: int = 0,
    num_temperatures: int = NUM_TEMPERATURES,
    **sampler: int | float | str | bool,
) -> tuple[Estimate, Estimate, list[PowerDraws]]:
    """log Z by (stepping-stone, thermodynamic integration) over one ladder started at ``init``, and its draws."""
    steps = power_posterior(spec, inputs, y, list(ladder(num_temperatures)), key=key, init=init, **sampler)
    return stepping_stone(steps), thermodynamic_integration(steps), steps


def _checked(dt: xr.DataTree, gamma: float, num_temperatures: int, sampler: Mapping[str, Any]) -> None:
    """Refuse, before any sampling, what the estimators cannot use."""
    require("posterior" in dt.children, "result", "has no posterior group: `bayescmoe singular` needs a NUTS fit")
    require(gamma > 0, "gamma", f"the localiser's precision must be positive, got {gamma}")
    require_positive_ints(**{k: v for k, v in sampler.items() if k in ("num_warmup", "num_samples", "num_chains")})
    ladder(num_temperatures)
    spec = spec_of(dt)
    require(
        proper_prior(spec),
        "priors",
        "the evidence needs proper priors; this result was fitted under a flat prior on "
        + ", ".join(name for name in spec.param_names if spec.prior(name).family == "flat"),
    )


def _refit_map(dt: xr.DataTree, spec: ModelSpec, inputs: Array, y: Array, key: int) -> PointEstimate:
    """The MAP on the result's data, from the stored MAP and the posterior mean."""
    mean = {k: dt["posterior"][k].mean(("chain", "draw")).values for k in spec.param_names}
    stored = [params_of(dt, "map")] if "map" in dt.children else []
    return fit_map(spec, inputs, y, key=key, init=[*stored, mean])


def local_learning_coefficient(
    spec: ModelSpec, inputs: Array, y: Array, start: Mapping[str, Any], *, key: int, gamma: float, **sampler: Any
) -> tuple[Estimate, np.ndarray, PointEstimate, PowerDraws]:
    """(llc, its per-chain values, w*, the localised draws): w* the likelihood's local maximum reached from
    ``start`` (the MAP: the global maximum can be a variance spike), the power posterior at t = 1/log n
    localised at w*."""
    mle = fit_mle(spec, inputs, y, init=start, num_random_starts=0)
    power = 1.0 / math.log(y.shape[0])
    local = power_posterior(spec, inputs, y, [power], key=key, center=mle.params, gamma=gamma, **sampler)[0]
    llc, chains = learning_coefficient(local, mle.log_likelihood)
    return llc, chains, mle, local


def ladder_evidence(
    dt: xr.DataTree, *, key: int = 0, num_temperatures: int = NUM_TEMPERATURES, **sampler: int | float | str | bool
) -> Evidence:
    """log Z (stepping-stone) - sum_i log f0(y_i | x_i) of a saved NUTS result, with its s.e., as the
    evidence for a prompt: any gate, about 33 NUTS runs (``collapse_report(dt, evidence=ladder_evidence(dt))``)."""
    _checked(dt, GAMMA, num_temperatures, sampler)
    spec = spec_of(dt)
    x, y = data_of(dt)
    init = _refit_map(dt, spec, x, y, key).params
    ss, _, _ = log_evidence(spec, x, y, init=init, key=key + 3, num_temperatures=num_temperatures, **sampler)
    return Evidence("ladder", ss.value - float(np.sum(frozen_log_scores(dt))), ss.se, LOG_BF_NEEDED)


def singular_report(
    dt: xr.DataTree,
    *,
    key: int = 0,
    gamma: float = GAMMA,
    num_temperatures: int = NUM_TEMPERATURES,
    **sampler: int | float | str | bool,
) -> SingularReport:
    """Learning coefficient, WBIC, WAIC, log evidence and Bayes factor of a saved NUTS result.

    w* is the likelihood's local maximum reached from the MAP (refitted from the stored MAP and the
    posterior mean): the global one can be a variance spike (nu -> 0 on a few points), where the
    likelihood is unbounded. ``sampler``: NUTS sizes of every tempered run (default 4 chains x 500
    warmup + 500 draws). The collapse report's verdict is given the ladder's log Bayes factor; for a
    constant gate the Savage-Dickey Bayes factor (from the posterior draws alone) is printed beside it.
    """
    _checked(dt, gamma, num_temperatures, sampler)
    spec = spec_of(dt)
    x, y = data_of(dt)
    n = y.shape[0]
    power = 1.0 / math.log(n)
    map_ = _refit_map(dt, spec, x, y, key)
    llc, chains, mle, local = local_learning_coefficient(spec, x, y, map_.params, key=key + 1, gamma=gamma, **sampler)
    tempered = power_posterior(spec, x, y, [power], key=key + 2, init=map_.params, **sampler)[0]
    ss, ti, steps = log_evidence(
        spec, x, y, init=map_.params, key=key + 3, num_temperatures=num_temperatures, **sampler
    )
    frozen = float(np.sum(frozen_log_scores(dt)))
    criterion = wbic(tempered)
    pointwise, loo = _result_pointwise(dt)
    w, p_waic = waic(pointwise)
    constant = spec.gate == "constant" and spec.num_prompts == 1
    return SingularReport(
        n=n,
        k=len(flat_labels(spec)),
        power=power,
        gamma=float(gamma),
        llc=llc.value,
        llc_se=llc.se,
        llc_chains=tuple(float(c) for c in chains),
        loglik_mle=mle.log_likelihood,
        mle_stop_reason=mle.stop_reason,
        wbic=criterion.value,
        wbic_se=criterion.se,
        waic=w.value,
        waic_se=w.se,
        p_waic=p_waic,
        elpd_loo=loo.value,
        elpd_loo_se=loo.se,
        log_evidence=ss.value,
        log_evidence_se=ss.se,
        log_evidence_ti=ti.value,
        log_evidence_ti_se=ti.se,
        log_evidence_laplace=laplace_log_evidence(map_),
        frozen_log_evidence=frozen,
        log_bayes_factor=ss.value - frozen,
        log_bayes_factor_savage_dickey=savage_dickey_log_bf(dt).value if constant else float("nan"),
        verdict=collapse_report(dt, evidence=Evidence("ladder", ss.value - frozen, ss.se, LOG_BF_NEEDED)).verdict,
        num_temperatures=int(num_temperatures),
        divergences=local.divergences + tempered.divergences + sum(d.divergences for d in steps),
    )
