"""The collapse report: is the prompt identified, vanishing, merging, or weakly identified? (PAPERS.md 2, 5)

:func:`collapse_report` turns the numbers of :func:`bayescmoe.diagnostics.signals.diagnose` into named
checks against the thresholds below, and the checks into one verdict:

1. **prompt merging** -- the spec can merge (Gaussian f0 and the same expert structure, i.e. not
   ``spec.distinguishable``), the gate collapsed (``gate_mass_near_zero`` or ``gate_contraction``
   fired) and the frozen expert's mean parameters lie inside the posterior of the prompt's
   (``frozen_p`` >= :data:`MERGE_P_MIN`: a Gaussian test of a = a0 [, b = b0]). The prompt's
   variance may still differ from nu0 (P2 b-ii), and the gate need not be near 0: at an exact merge
   it is free, and the posterior often piles up at lam -> 0, where the prompt is free too.
2. **prompt vanishing** -- the gate's posterior mass is near 0 (the prompt explains fewer than
   ``OBS_PER_PARAM`` observations per prompt parameter in more than :data:`GATE_MASS_MIN` of the
   draws) and some prompt parameter did not contract (contraction < :data:`CONTRACTION_MIN`).
3. **weakly identified** -- neither, but some check fired: a parameter that did not contract, a
   gate near 0 with a contracted prompt, ArviZ's R-hat / ESS / divergences / E-BFMI, chains that
   disagree, a bimodal marginal, a funnel, or a MAP far from the posterior mean.
4. **identified** -- no check fired.

Merging is tested first: where the spec can merge and the prompt's posterior covers the frozen
expert, the data cannot tell a merged prompt from a vanished one, and merging is the explanation
the spec allows. A check whose numbers are all NaN (e.g. contraction under flat priors) cannot fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from bayescmoe.diagnostics.signals import FitDiagnostics, ParameterDiagnostics, diagnose

VERDICTS = ("identified", "prompt vanishing", "prompt merging", "weakly identified")

#: a parameter "contracted" when 1 - var_post/var_prior reaches this (identified fits: 0.96 to 1,
#: collapsed prompts: -0.1 to 0.8)
CONTRACTION_MIN = 0.9
#: the gate is "near 0" when more than this share of its posterior mass is below eps
GATE_MASS_MIN = 0.5
#: the prompt "sits on" the frozen expert when the Gaussian test of a = a0 [, b = b0] has p >= this
MERGE_P_MIN = 0.01
#: rank-normalised split R-hat above this is a failure. Vehtari et al. (2021) use 1.01 with ESS > 400;
#: a healthy 2 x 300-draw control reached 1.011, so small fits get 1.02 (collapsed ones: up to 1.1)
RHAT_MAX = 1.02
#: bulk and tail ESS below this per chain is a failure (Vehtari et al. 2021)
ESS_PER_CHAIN_MIN = 100
#: any divergent transition above this count is a failure (Betancourt 2017)
DIVERGENCES_MAX = 0
#: E-BFMI below this in any chain is a failure (Betancourt 2016)
BFMI_MIN = 0.3
#: family-wise level of the chain-disagreement tests (Bonferroni over the scalars)
CHAIN_ALPHA = 0.01
#: bimodality coefficient above the uniform's 5/9 suggests two modes (Pfister et al. 2013)
BIMODALITY_MAX = 5 / 9
#: a funnel: spread ratio (lowest / highest gate bin) at least this, with the correlation below
#: (identified fits: <= 1.2; vanishing and P2 merging fits: 1.25 to 2.7)
FUNNEL_RATIO_MIN = 1.5
#: ... and the correlation of log gate with log spread at most this
FUNNEL_CORR_MAX = -0.8
#: ... and the gate ranging over at least this factor (highest / lowest gate bin): a gate that varies
#: less is not shrinking towards 0, and a prompt whose information grows with lam (inside the frozen
#: expert's bulk: information ~ lam^2) shows a mild funnel in any identified fit
FUNNEL_GATE_SPAN_MIN = 2.0
#: |MAP - posterior mean| above this many posterior sds
MAP_DISTANCE_MAX = 2.0


class Check(NamedTuple):
    """One named check: the worst value over the parameters it covers (``where``) against a threshold."""

    name: str
    value: float
    op: str
    threshold: float
    where: str
    fired: bool


def _worst(
    name: str,
    params: Iterable[ParameterDiagnostics],
    value: Callable[[ParameterDiagnostics], float],
    op: str,
    threshold: float,
) -> Check:
    """The check of the worst parameter: smallest value for ``op`` '<', largest for '>' or '>='."""
    items = [(value(p), p.label) for p in params if np.isfinite(value(p))]
    if not items:
        return Check(name, float("nan"), op, threshold, "", False)
    v, where = (min if op == "<" else max)(items)
    return _check(name, v, op, threshold, where)


def _check(name: str, value: float, op: str, threshold: float, where: str = "") -> Check:
    fired = bool(np.isfinite(value)) and {"<": value < threshold, ">": value > threshold, ">=": value >= threshold}[op]
    return Check(name, float(value), op, float(threshold), where, fired)


def checks(d: FitDiagnostics) -> tuple[Check, ...]:
    """Every check of :mod:`bayescmoe.diagnostics.collapse` on one fit's diagnostics, in report order."""
    gate, prompt = d.of_role("gate"), d.of_role("prompt")
    ess_min = ESS_PER_CHAIN_MIN * d.num_chains
    spans = d.gate_span >= FUNNEL_GATE_SPAN_MIN
    funnel_strength = lambda p: p.funnel_ratio if spans and p.funnel_corr <= FUNNEL_CORR_MAX else 1.0  # noqa: E731
    return (
        _check("gate_mass_near_zero", d.gate_mass_near_zero, ">", GATE_MASS_MIN),
        _worst("gate_contraction", gate, lambda p: p.contraction, "<", CONTRACTION_MIN),
        _worst("prompt_contraction", prompt, lambda p: p.contraction, "<", CONTRACTION_MIN),
        _check("frozen_p", d.frozen_p, ">=", MERGE_P_MIN),
        _worst("rhat", d.parameters, lambda p: p.rhat, ">", RHAT_MAX),
        _worst("ess_bulk", d.parameters, lambda p: p.ess_bulk, "<", ess_min),
        _worst("ess_tail", d.parameters, lambda p: p.ess_tail, "<", ess_min),
        _check("divergences", d.divergences, ">", DIVERGENCES_MAX),
        _check("bfmi", min(d.bfmi, default=np.nan), "<", BFMI_MIN),
        _worst("chain_p", d.parameters, lambda p: p.chain_p, "<", CHAIN_ALPHA / len(d.parameters)),
        _worst("bimodality", d.parameters, lambda p: p.bimodality, ">", BIMODALITY_MAX),
        _worst("funnel", prompt, funnel_strength, ">=", FUNNEL_RATIO_MIN),
        _worst("map_distance", d.parameters, lambda p: p.map_distance, ">", MAP_DISTANCE_MAX),
    )


#: checks that are evidence of a problem (``frozen_p`` only says where the prompt sits)
PROBLEMS = (
    "gate_mass_near_zero",
    "gate_contraction",
    "prompt_contraction",
    "rhat",
    "ess_bulk",
    "ess_tail",
    "divergences",
    "bfmi",
    "chain_p",
    "bimodality",
    "funnel",
    "map_distance",
)


def classify(d: FitDiagnostics, found: tuple[Check, ...]) -> tuple[str, str]:
    """(verdict, reason) by the decision rule of the module docstring."""
    by_name = {c.name: c for c in found}
    fired = {c.name for c in found if c.fired}
    mass, gate, prompt = by_name["gate_mass_near_zero"], by_name["gate_contraction"], by_name["prompt_contraction"]
    near_zero = f"{mass.value:.0%} of the gate's mass is near 0"
    if not d.distinguishable and {"gate_mass_near_zero", "gate_contraction"} & fired and "frozen_p" in fired:
        collapsed = near_zero if mass.fired else f"the gate did not contract ({gate.where} {gate.value:.2f})"
        return "prompt merging", (
            f"the spec can merge (Gaussian f0, same structure), {collapsed} and the frozen expert's "
            f"mean parameters lie in the prompt's posterior (p = {by_name['frozen_p'].value:.3g})"
        )
    if {"gate_mass_near_zero", "prompt_contraction"} <= fired:
        return "prompt vanishing", f"{near_zero} and {prompt.where} did not contract ({prompt.value:.2f})"
    problems = [c.name for c in found if c.fired and c.name in PROBLEMS]
    if problems:
        return "weakly identified", "checks fired: " + ", ".join(problems)
    return "identified", "no check fired"


@dataclass(frozen=True)
class CollapseReport:
    """The verdict on one fit, why, every check, and the diagnostics behind them."""

    verdict: str
    reason: str
    checks: tuple[Check, ...]
    diagnostics: FitDiagnostics

    @property
    def fired(self) -> tuple[Check, ...]:
        """The checks that crossed their thresholds."""
        return tuple(c for c in self.checks if c.fired)

    def to_dict(self) -> dict[str, Any]:
        """One flat row (verdict, fit sizes, each check's value/where/fired) for tabulating many fits."""
        d = self.diagnostics
        row: dict[str, Any] = {
            "verdict": self.verdict,
            "reason": self.reason,
            "n": d.n,
            "num_chains": d.num_chains,
            "num_draws": d.num_draws,
            "distinguishable": d.distinguishable,
            "gate_eps": d.gate_eps,
            "prior_gate_mass_near_zero": d.prior_gate_mass_near_zero,
        }
        for c in self.checks:
            row.update({c.name: c.value, f"{c.name}_where": c.where, f"{c.name}_fired": c.fired})
        return row

    def render(self, parameters: bool = True) -> str:
        """Text: verdict, reason, the checks table and (optionally) the per-parameter diagnostics."""
        d = self.diagnostics
        lines = [
            f"verdict: {self.verdict}",
            f"why: {self.reason}",
            f"fit: n = {d.n}, {d.num_chains} chains x {d.num_draws} draws, distinguishable {d.distinguishable}, "
            f"gate near 0 below {d.gate_eps:.3g} (prior mass there {d.prior_gate_mass_near_zero:.3g})",
            "",
            f"{'check':22s} {'value':>10s}  {'crossed if':12s} where",
        ]
        for c in self.checks:
            value = "n/a" if not np.isfinite(c.value) else f"{c.value:.4g}"
            crossed = "crossed" if c.fired else ""
            lines.append(
                f"{c.name:22s} {value:>10s}  {c.op + ' ' + f'{c.threshold:.4g}':12s} {c.where:8s} {crossed}".rstrip()
            )
        if parameters:
            table = d.table().drop(columns=["name"])
            lines += ["", table.to_string(float_format=lambda v: f"{v:.4g}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def collapse_report(dt: xr.DataTree, *, eps: float | None = None) -> CollapseReport:
    """Diagnose a NUTS result and classify it (see the module docstring for the rule)."""
    d = diagnose(dt, eps=eps)
    found = checks(d)
    verdict, reason = classify(d, found)
    return CollapseReport(verdict, reason, found, d)
