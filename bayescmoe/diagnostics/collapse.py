"""The collapse report: is the prompt identified, vanishing, merging, not needed, or weakly identified?

:func:`collapse_report` turns the numbers of :func:`bayescmoe.diagnostics.signals.diagnose` into named
checks against the thresholds below, and the checks into one verdict. The verdict rests on what the
data and the posterior show, never on the spec's family or structure (``spec.distinguishable``, P2's
Definition 1, is an n -> infinity statement and is reported as information only):

1. **prompt not needed** (only with evidence) -- the evidence for a prompt against f0 alone
   (:class:`~bayescmoe.diagnostics.predictive.Evidence`: the Savage-Dickey or stepping-stone log
   Bayes factor below 1, or a PSIS-LOO gain below max(4, 2 s.e.)) does not call for it, and some
   prompt parameter did not contract (contraction < :data:`CONTRACTION_MIN`: the prompt is still
   near its prior). Kass and Raftery (1995) grade 2 log BF below 2 "not worth more than a bare
   mention", and a negative log BF is evidence for f0 alone: in both cases the data do not call for
   a prompt, and a merged prompt and a vanished one are then the same explanation of them. A merge
   piles the posterior at lam -> 0, where the prompt is free (the Occam factor: log BF = -7 at exact
   Gaussian and Student-t(30) merges, n = 2000), so the rule is log BF < 1, not |log BF| < 1.
2. **prompt merging** -- the gate collapsed (``prompt_observations`` or ``gate_contraction`` fired),
   the data cannot tell f0 from the prompt closest to it, of the prompt's family
   (:func:`~bayescmoe.diagnostics.signals.frozen_projection`: f0's own a0 [, b0] and variance for the
   same structure; a prompt of another family than f0's is never f0, and the probe sees it): with the
   prompt held there, lam does not contract (``merge_probe`` < :data:`CONTRACTION_MIN`, the cut of
   every contraction here and of the Fisher label; this replaces "f0 is Gaussian"), and the prompt sits
   there: the closest prompt's mean parameters lie inside the prompt's posterior (``frozen_p`` >=
   :data:`MERGE_P_MIN`), also on the draws whose gate is not near 0 (``frozen_p_gated``, when at least
   ``GATED_SHARE_MIN`` of the draws are). The prompt's variance may still differ from f0's (P2 b-ii),
   and the gate need not be near 0.
3. **prompt vanishing** -- the prompt explains fewer than ``OBS_PER_PARAM`` observations per prompt
   parameter (posterior median of n wbar, ``prompt_observations``) and some prompt parameter did not
   contract. Where both 2 and 3 hold the verdict is **prompt vanishing or merging**: a prompt with a
   vanishing weight and one sitting on f0 are then the same density of the data, which the posterior
   cannot tell apart; it names one only when the posterior shows it.
4. **weakly identified** -- none of these, but some check of :data:`PROBLEMS` fired: a parameter that
   did not contract, a gate near 0 with a contracted prompt, ArviZ's R-hat / ESS / divergences /
   E-BFMI, chains that disagree, a bimodal marginal (coefficient above 5/9 *and* a KDE dip), a
   funnel, or a MAP far from the posterior mean.
5. **identified** -- no check fired.

Merging is tested before vanishing: where the prompt's posterior covers f0 and the data cannot tell
them apart, a merged prompt explains the data as well as a vanished one (a Student-t(30) f0 with the
prompt at its mean and variance, lam* = 0.3, n = 3000: probe contraction 0.2). Where the data tell f0
from the prompt's family (a Laplace f0 against a Gaussian prompt at n = 2000: 0.99), a collapsed gate
is a vanishing prompt even when some draws put the prompt on f0. A check whose numbers are all NaN
(contraction under flat priors, ``frozen_p_gated`` with the gate near 0 in most draws, the log Bayes
factor when none is given) cannot fire.

With K >= 2 prompts the rule is applied to each prompt on its own, after relabelling, and every pair
of exchangeable prompts is checked for a merge (:func:`prompts_report`; docs/prompts.md: *Label
switching*).

Background: docs/science.md, *When learning slows*, *What the papers leave open*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from bayescmoe.diagnostics.predictive import prompt_evidence
from bayescmoe.diagnostics.relabelling import (
    MERGED_SHARE,
    describe_relabelling,
    prompt_overlap,
    relabel,
    relabelling_of,
)
from bayescmoe.diagnostics.signals import FitDiagnostics, ParameterDiagnostics, diagnose
from bayescmoe.errors import require
from bayescmoe.results.datatree import spec_of
from bayescmoe.results.evidence import Evidence, stored_evidence

VERDICTS = (
    "identified",
    "prompt vanishing",
    "prompt merging",
    "prompt vanishing or merging",
    "prompt not needed",
    "weakly identified",
)
#: what ``collapse_report(evidence=...)`` accepts besides an :class:`Evidence`: the result's own (``auto``), a
#: criterion of :func:`~bayescmoe.diagnostics.predictive.prompt_evidence`, or None (the posterior alone)
EVIDENCE = ("auto", "savage-dickey", "loo")
POSTERIOR_ONLY = "none (the verdict rests on the posterior alone)"

#: a parameter "contracted" when 1 - var_post/var_prior reaches this (identified fits: 0.96 to 1,
#: collapsed prompts: -0.1 to 0.8)
CONTRACTION_MIN = 0.9
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
#: ... and counts when the KDE has a valley below this share of its lower peak (two normals of unit sd
#: 3 apart: 0.75; skewed one-peaked marginals: 1)
DIP_MAX = 0.9
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


def checks(d: FitDiagnostics, evidence: Evidence | None = None) -> tuple[Check, ...]:
    """Every check of :mod:`bayescmoe.diagnostics.collapse` on one fit's diagnostics, in report order."""
    gate, prompt = d.of_role("gate"), d.of_role("prompt")
    ess_min = ESS_PER_CHAIN_MIN * d.num_chains
    spans = d.gate_span >= FUNNEL_GATE_SPAN_MIN
    funnel_strength = lambda p: p.funnel_ratio if spans and p.funnel_corr <= FUNNEL_CORR_MAX else 1.0  # noqa: E731
    two_peaks = lambda p: p.bimodality if p.dip < DIP_MAX else np.nan  # noqa: E731
    calls = Check("evidence", np.nan, "<", np.nan, "", False) if evidence is None else None
    return (
        _check("prompt_observations", d.prompt_observations, "<", d.gate_eps * d.n),
        _worst("gate_contraction", gate, lambda p: p.contraction, "<", CONTRACTION_MIN),
        _worst("prompt_contraction", prompt, lambda p: p.contraction, "<", CONTRACTION_MIN),
        _check("frozen_p", d.frozen_p, ">=", MERGE_P_MIN),
        _check("frozen_p_gated", d.frozen_p_gated, ">=", MERGE_P_MIN),
        _check("merge_probe", d.merge_probe, "<", CONTRACTION_MIN),
        calls or _check("evidence", evidence.value, "<", evidence.threshold, evidence.criterion),
        _worst("rhat", d.parameters, lambda p: p.rhat, ">", RHAT_MAX),
        _worst("ess_bulk", d.parameters, lambda p: p.ess_bulk, "<", ess_min),
        _worst("ess_tail", d.parameters, lambda p: p.ess_tail, "<", ess_min),
        _check("divergences", d.divergences, ">", DIVERGENCES_MAX),
        _check("bfmi", min(d.bfmi, default=np.nan), "<", BFMI_MIN),
        _worst("chain_p", d.parameters, lambda p: p.chain_p, "<", CHAIN_ALPHA / len(d.parameters)),
        _worst("bimodality", d.parameters, two_peaks, ">", BIMODALITY_MAX),
        _worst("funnel", prompt, funnel_strength, ">=", FUNNEL_RATIO_MIN),
        _worst("map_distance", d.parameters, lambda p: p.map_distance, ">", MAP_DISTANCE_MAX),
    )


#: checks that are evidence of a problem (the frozen tests, the probe and the Bayes factor say where the
#: prompt sits and whether it is called for)
PROBLEMS = (
    "prompt_observations",
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
    seen, gate, prompt = by_name["prompt_observations"], by_name["gate_contraction"], by_name["prompt_contraction"]
    uncontracted = f"{prompt.where} did not contract ({prompt.value:.2f})"
    if {"evidence", "prompt_contraction"} <= fired:
        evidence = by_name["evidence"]
        return "prompt not needed", (
            f"the evidence for a prompt ({evidence.where}) {evidence.value:.3g} < {evidence.threshold:.3g} "
            f"and {uncontracted}"
        )
    few = f"the prompt explains {seen.value:.3g} observations (posterior median of n wbar)"
    gated, probe = by_name["frozen_p_gated"], by_name["merge_probe"]
    sits = {"merge_probe", "frozen_p"} <= fired and (gated.fired or not np.isfinite(gated.value))
    merging = bool({"prompt_observations", "gate_contraction"} & fired) and sits
    vanishing = {"prompt_observations", "prompt_contraction"} <= fired
    if merging:
        collapsed = few if seen.fired else f"the gate did not contract ({gate.where} {gate.value:.2f})"
        where = f", also where its gate is not near 0 (p = {gated.value:.3g})" if gated.fired else ""
        reason = (
            f"{collapsed}, the data cannot tell f0 from the prompt closest to it (lam contracts by "
            f"{probe.value:.2f} with the prompt there) and it lies in the prompt's posterior "
            f"(p = {by_name['frozen_p'].value:.3g}){where}"
        )
        if vanishing:
            return "prompt vanishing or merging", f"{reason}; and {uncontracted}: both explain the data alike"
        return "prompt merging", reason
    if vanishing:
        return "prompt vanishing", f"{few} and {uncontracted}"
    problems = [c.name for c in found if c.fired and c.name in PROBLEMS]
    if problems:
        return "weakly identified", "checks fired: " + ", ".join(problems)
    return "identified", "no check fired"


#: the checks each verdict rests on (module docstring); for "weakly identified", any of :data:`PROBLEMS`
DECIDING = {
    "identified": frozenset(),
    "prompt not needed": frozenset({"evidence", "prompt_contraction"}),
    "prompt merging": frozenset(
        {"prompt_observations", "gate_contraction", "merge_probe", "frozen_p", "frozen_p_gated"}
    ),
    "prompt vanishing": frozenset({"prompt_observations", "prompt_contraction"}),
    "weakly identified": frozenset(PROBLEMS),
}
DECIDING["prompt vanishing or merging"] = DECIDING["prompt merging"] | DECIDING["prompt vanishing"]


@dataclass(frozen=True)
class CollapseReport:
    """The verdict on one fit, why, every check, and the diagnostics behind them."""

    verdict: str
    reason: str
    checks: tuple[Check, ...]
    diagnostics: FitDiagnostics
    evidence: Evidence | None = None

    @property
    def fired(self) -> tuple[Check, ...]:
        """The checks that crossed their thresholds."""
        return tuple(c for c in self.checks if c.fired)

    @property
    def decisive(self) -> tuple[Check, ...]:
        """The crossed checks the verdict rests on; any other crossed check did not decide it alone."""
        return tuple(c for c in self.fired if c.name in DECIDING[self.verdict])

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
            "gate_mass_near_zero": d.gate_mass_near_zero,
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
            f"evidence: {self.evidence.render() if self.evidence else POSTERIOR_ONLY}",
            f"fit: n = {d.n}, {d.num_chains} chains x {d.num_draws} draws, distinguishable {d.distinguishable}, "
            f"gate near 0 below {d.gate_eps:.3g} (posterior mass there {d.gate_mass_near_zero:.3g}, "
            f"prior {d.prior_gate_mass_near_zero:.3g})",
            "",
            f"{'check':22s} {'value':>10s}  {'crossed if':12s} where",
        ]
        for c in self.checks:
            value = "n/a" if not np.isfinite(c.value) else f"{c.value:.4g}"
            crossed = "" if not c.fired else "crossed" if c in self.decisive else "crossed; not decisive alone"
            lines.append(
                f"{c.name:22s} {value:>10s}  {c.op + ' ' + f'{c.threshold:.4g}':12s} {c.where:8s} {crossed}".rstrip()
            )
        if parameters:
            table = d.table().drop(columns=["name"])
            lines += ["", table.to_string(float_format=lambda v: f"{v:.4g}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def report_of(d: FitDiagnostics, evidence: Evidence | None = None) -> CollapseReport:
    """The report on diagnostics already computed (the module docstring's rule)."""
    found = checks(d, evidence)
    return CollapseReport(*classify(d, found), found, d, evidence)


def require_evidence(evidence: str | Evidence | None) -> None:
    """Refuse an ``evidence`` that :func:`evidence_of` cannot compute, saying what to pass instead."""
    if evidence is None or isinstance(evidence, Evidence):
        return
    require(
        evidence != "ladder",
        "evidence",
        "the ladder (about 33 NUTS runs) is a study: pass evidence=bayescmoe.ladder_evidence(result)",
    )
    require(evidence in EVIDENCE, "evidence", f"unknown evidence {evidence!r}; choose from {[*EVIDENCE, None]}")


def evidence_of(dt: xr.DataTree, evidence: str | Evidence | None = "auto") -> Evidence | None:
    """The evidence ``collapse_report`` decides with: ``"auto"``, the result's own (what :func:`bayescmoe.fit`
    stored) or else :func:`~bayescmoe.diagnostics.predictive.prompt_evidence`'s default; a criterion of
    :data:`EVIDENCE`; an :class:`Evidence` computed elsewhere (the stepping-stone ladder); or None
    (``evidence`` as :func:`require_evidence` accepts it, checked by ``collapse_report`` before any work)."""
    if evidence is None or isinstance(evidence, Evidence):
        return evidence
    stored = stored_evidence(dt)
    return stored if evidence == "auto" and stored is not None else prompt_evidence(dt, evidence)


#: the overall verdicts on K >= 2 prompts, the first that applies (:func:`prompts_report`)
PROMPTS_VERDICTS = ("prompts merged", "prompt collapsed", "weakly identified", "identified")
#: the verdicts on one prompt that make it a collapsed one
COLLAPSED = ("prompt vanishing", "prompt merging", "prompt vanishing or merging", "prompt not needed")


@dataclass(frozen=True)
class PromptsReport:
    """The verdict on a fit of K >= 2 prompts: a :class:`CollapseReport` per prompt, a ``merged`` check per
    pair of exchangeable prompts, and one overall verdict (:func:`prompts_report`)."""

    verdict: str
    reason: str
    prompts: tuple[CollapseReport, ...]
    pairs: tuple[Check, ...]
    relabelling: str
    evidence: Evidence | None = None

    def render(self, parameters: bool = True) -> str:
        """Text: verdict, reason, the relabelling, the pairs' table, then each prompt's report."""
        d = self.prompts[0].diagnostics
        lines = [
            f"verdict: {self.verdict}",
            f"why: {self.reason}",
            f"relabelling: {self.relabelling}",
            f"evidence: {self.evidence.render() if self.evidence else POSTERIOR_ONLY}",
            f"fit: n = {d.n}, K = {len(self.prompts)} prompts, {d.num_chains} chains x {d.num_draws} draws",
            "",
            f"{'pair':22s} {'ambiguous':>10s}  {'crossed if':12s} distance",
        ]
        for c in self.pairs:
            crossed = "crossed: their labels are not identified" if c.fired else ""
            row = f"{c.name:22s} {c.value:>10.4g}  {c.op} {c.threshold:<9.4g} {c.where:8s} {crossed}"
            lines.append(row.rstrip())
        if not self.pairs:
            lines.append("(no two prompts are exchangeable)")
        for k, report in enumerate(self.prompts):
            lines += ["", f"== prompt {k} ==", report.render(parameters)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def prompts_report(dt: xr.DataTree, evidence: Evidence | None = None, eps: float | None = None) -> PromptsReport:
    """The report on a K >= 2 result: relabelled first (:func:`~bayescmoe.diagnostics.relabelling.relabel`) unless
    ``spec.order`` identifies the labels; each prompt's :class:`CollapseReport` on its one-prompt view
    (:func:`~bayescmoe.diagnostics.signals.diagnose` with ``prompt=k``: the merge probe there leaves the
    other prompts out, and ``evidence``, of all the prompts against f0 alone, says "prompt not needed"
    of a prompt only when no prompt is needed); a check ``merged[j, k]`` per pair of exchangeable prompts
    (:func:`~bayescmoe.diagnostics.relabelling.prompt_overlap`: the share of draws labelling them
    ambiguously, where relabelling is meaningless). Overall, the first of :data:`PROMPTS_VERDICTS` that
    applies: some pair merged, some prompt collapsed (:data:`COLLAPSED`), some prompt weakly identified.
    """
    spec = spec_of(dt)
    if spec.order is None:
        dt = relabel(dt)
        described = describe_relabelling(relabelling_of(dt))
    else:
        described = f"none: spec.order = {spec.order!r} identifies the labels"
    prompts = tuple(report_of(diagnose(dt, eps=eps, prompt=k), evidence) for k in range(spec.num_prompts))
    pairs = tuple(
        _check("merged[{}, {}]".format(*o.prompts), o.ambiguous_share, ">=", MERGED_SHARE, f"{o.distance:.3g}")
        for o in prompt_overlap(dt)
    )
    each = "; ".join(f"prompt {k}: {r.verdict}" for k, r in enumerate(prompts))
    merged = [c for c in pairs if c.fired]
    if merged:
        names = ", ".join(c.name for c in merged)
        verdict, reason = "prompts merged", f"{names}: their labels are not identified (fewer prompts would do); {each}"
    elif any(r.verdict in COLLAPSED for r in prompts):
        verdict, reason = "prompt collapsed", each
    elif any(r.verdict == "weakly identified" for r in prompts):
        verdict, reason = "weakly identified", each
    else:
        verdict, reason = "identified", f"no two prompts merged; {each}"
    return PromptsReport(verdict, reason, prompts, pairs, described, evidence)


def collapse_report(
    dt: xr.DataTree, *, evidence: str | Evidence | None = "auto", eps: float | None = None
) -> CollapseReport | PromptsReport:
    """Diagnose a NUTS result and classify it (module docstring); with K >= 2 prompts, each prompt and each
    pair of them (:func:`prompts_report`, docs/prompts.md: *Label switching*).

    ``evidence`` for the prompt against f0 alone (:func:`evidence_of`): by default the result's own, or
    else Savage-Dickey (constant gate) or PSIS-LOO (sigmoid gate); ``"savage-dickey"`` or ``"loo"``; the
    stepping-stone ladder's, passed as ``evidence=bayescmoe.ladder_evidence(dt)``; None decides from the
    posterior alone (no "prompt not needed"). ``eps``: the gate's "near 0" level (default ``OBS_PER_PARAM`` k / n).
    """
    require_evidence(evidence)
    if spec_of(dt).num_prompts > 1:
        return prompts_report(dt, evidence_of(dt, evidence), eps)
    return report_of(diagnose(dt, eps=eps), evidence_of(dt, evidence))
