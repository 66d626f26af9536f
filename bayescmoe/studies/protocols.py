"""The rate experiments of docs/science.md: *The experiments*: which settings, which n, how many replicates.

Theory slopes follow docs/science.md: *The rates* with Delta* ~ n^-1/8 and lam*_n ~ n^-1/4; the paper's
slopes are P2's reported numbers (P1 published none). They are reference values to compare with,
never inputs of a computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from bayescmoe.errors import require
from bayescmoe.model.settings import get_setting
from bayescmoe.studies.losses import error_groups

HALF, QUARTER, THREE_EIGHTHS, NONE = -0.5, -0.25, -0.375, 0.0


def log_grid(lo: float, hi: float, num: int) -> tuple[int, ...]:
    """``num`` log-spaced integer sample sizes from ``lo`` to ``hi``."""
    return tuple(round(v) for v in np.logspace(np.log10(lo), np.log10(hi), num))


@dataclass(frozen=True)
class Protocol:
    """A grid of settings x sample sizes x replicates, with reference slopes per setting and group."""

    name: str
    settings: tuple[str, ...]
    n_grid: tuple[int, ...]
    replicates: int
    theory: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    paper: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def quick(self) -> Protocol:
        """The ``--quick`` preset: 3 sizes up to 1e4 and 2 replicates (used by the tests)."""
        return replace(self, name=f"{self.name}-quick", n_grid=(1000, 3000, 10000), replicates=2)

    def with_settings(self, settings: tuple[str, ...]) -> Protocol:
        """A copy restricted to some of its settings."""
        unknown = sorted(set(settings) - set(self.settings))
        require(not unknown, "settings", f"not in protocol {self.name}: {unknown}; it has {list(self.settings)}")
        return replace(self, settings=tuple(s for s in self.settings if s in settings))

    def with_grid(self, lo: float, hi: float, num: int) -> Protocol:
        """A copy on ``num`` log-spaced sample sizes from ``lo`` to ``hi``."""
        require(0 < lo < hi and num >= 2, "sizes", f"need 0 < lo < hi and at least 2 sizes, got {lo}, {hi}, {num}")
        return replace(self, n_grid=log_grid(lo, hi, num))

    def with_replicates(self, replicates: int) -> Protocol:
        """A copy with another number of replicates."""
        require(replicates > 0, "replicates", "must be a positive integer")
        return replace(self, replicates=replicates)


def _same(value: float, groups: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(groups, value)


#: both papers' grid: 20 log-spaced n from 1e3 to 1e5, 40 replicates each (docs/science.md: *The experiments*)
N_GRID, REPLICATES = log_grid(1e3, 1e5, 20), 40
P2_GROUPS = error_groups(get_setting("p2-distinguishable").spec)
P1_GROUPS = error_groups(get_setting("p1-family").spec)
#: the slope's error along its merging direction is slowed like the slope; across it, it is not
MERGE_SLOWED = {"a_merge": THREE_EIGHTHS, "a_perp": HALF}
P2_SLOWED = {
    "beta": THREE_EIGHTHS,
    "tau": QUARTER,
    "exp_tau": QUARTER,
    "a": THREE_EIGHTHS,
    **MERGE_SLOWED,
    "nu": THREE_EIGHTHS,
}
P1_SLOWED = {"lam": QUARTER, "a": THREE_EIGHTHS, **MERGE_SLOWED, "b": THREE_EIGHTHS, "nu": THREE_EIGHTHS}
#: Delta* ~ n^-1/4: lam at n^-1/2 / Delta*^2 = n^0, the prompt at n^-1/2 / Delta* = n^-1/4
P1_QUARTER = {"lam": NONE, "a": QUARTER, "a_merge": QUARTER, "a_perp": HALF, "b": QUARTER, "nu": QUARTER}
P1_VANISHING = {"lam": HALF, "a": QUARTER, "b": QUARTER, "nu": QUARTER}
#: the slowed-rate grids: 12 log-spaced n up to 1e6, where the merging gap of the slowed-rate cells
#: is a fraction of the noise sd and their gate is finite (README "Convergence rates"). P2's sigmoid
#: gate runs away (|tau_hat - tau*| > 3) in 35% of the fits at n = 1e4 and 5% at 1.5e4, in none
#: from 2.3e4 on (``python analyses/rates_p2_slow.py --sizes 1e4,1e6,12``), so its grid starts at 3e4.
P1_SLOW_GRID, P2_SLOW_GRID = log_grid(1e4, 1e6, 12), log_grid(3e4, 1e6, 12)
P1_SLOW_REPLICATES, P2_SLOW_REPLICATES = 40, 20
#: the prompt's other families (docs/open-questions.md: *Non-Gaussian prompts*): the Gaussian cells with
#: their theory beside their Student-t(5) and Laplace twins, for which no rate is proved (no theory entry).
#: Merging cells on the slowed-rate grid up to 2.8e5 (its first 9 sizes: the gap 0.22 to 0.15 noise
#: units; a Student-t(5) fit at 1e6 takes about 3.5 s, and the grid up to 1e6 did not fit in 30 min on
#: 2 shared cores), cells distinguishable by family on the papers' grid, where n^-1/2 shows already
FAMILY_GRID = P1_SLOW_GRID[:9]
#: 20 replicates for the distinguishable cells: with 40 the two protocols did not fit in 30 min there
FAMILY_DISTINCT_REPLICATES = 20
FAMILY_MERGES = ("p1-merging-slow", "p1-merging-slow-t5", "p1-merging-slow-laplace")
FAMILY_DISTINCT = ("p1-family", "p1-laplace-prompt", "p1-t5-prompt")
#: classification (docs/classification.md: *Rates: homogeneous against heterogeneous adapters*): homogeneous
#: adapters merging into p0 at n^-1/8 and heterogeneous (tanh) ones, each behind a constant and a sigmoid gate.
#: n^-1/2 for the heterogeneous cells (a fixed truth, distinguishable); no theory entry for the merging cells,
#: whose rates in the classification paper could not be read. The grid starts at 1e4: at 1e3 the tanh adapter's
#: slopes ran off to |a| ~ 1e3..1e5 in many trial fits, and some merging cells' gates saturated.
CLASSIFY_MERGES = ("classify-merging-constant", "classify-merging-sigmoid")
CLASSIFY_DISTINCT = ("classify-distinct-constant", "classify-distinct-sigmoid")
CLASSIFY_GRID = log_grid(1e4, 2e5, 8)
#: P2's reported (b-ii) slopes, compared with both readings of (b-ii)
P2_B_II = {"beta": -0.39, "tau": -0.22, "exp_tau": -0.22, "a": -0.37, "nu": -0.39}

PROTOCOLS: dict[str, Protocol] = {
    "p2": Protocol(
        name="p2",
        settings=("p2-distinguishable", "p2-merging-eta", "p2-merging-nu", "p2-merging-nu-e1"),
        n_grid=N_GRID,
        replicates=REPLICATES,
        theory={
            "p2-distinguishable": _same(HALF, P2_GROUPS),
            "p2-merging-eta": P2_SLOWED,
            "p2-merging-nu": _same(HALF, P2_GROUPS),  # as written Delta* stays about 2
            "p2-merging-nu-e1": P2_SLOWED,
        },
        paper={
            "p2-distinguishable": {"beta": -0.45, "tau": -0.52, "exp_tau": -0.52, "a": -0.50, "nu": -0.54},
            "p2-merging-eta": {"beta": -0.37, "tau": -0.23, "exp_tau": -0.23, "a": -0.39, "nu": -0.35},
            "p2-merging-nu": P2_B_II,
            "p2-merging-nu-e1": P2_B_II,
        },
    ),
    "p1": Protocol(
        name="p1",
        settings=("p1-family", "p1-structure", "p1-merging", "p1-vanishing"),
        n_grid=N_GRID,
        replicates=REPLICATES,
        theory={
            "p1-family": _same(HALF, P1_GROUPS),
            "p1-structure": _same(HALF, P1_GROUPS),
            "p1-merging": P1_SLOWED,
            "p1-vanishing": P1_VANISHING,
        },
    ),
    "p1-slow": Protocol(
        name="p1-slow",
        settings=("p1-merging-slow", "p1-merging-quarter", "p1-vanishing"),
        n_grid=P1_SLOW_GRID,
        replicates=P1_SLOW_REPLICATES,
        theory={"p1-merging-slow": P1_SLOWED, "p1-merging-quarter": P1_QUARTER, "p1-vanishing": P1_VANISHING},
    ),
    "p2-slow": Protocol(
        name="p2-slow",
        settings=("p2-merging-eta-noisy",),
        n_grid=P2_SLOW_GRID,
        replicates=P2_SLOW_REPLICATES,
        theory={"p2-merging-eta-noisy": P2_SLOWED},
    ),
    "families": Protocol(
        name="families",
        settings=FAMILY_MERGES,
        n_grid=FAMILY_GRID,
        replicates=P1_SLOW_REPLICATES,
        theory={"p1-merging-slow": P1_SLOWED},
    ),
    "families-distinct": Protocol(
        name="families-distinct",
        settings=FAMILY_DISTINCT,
        n_grid=N_GRID,
        replicates=FAMILY_DISTINCT_REPLICATES,
        theory={"p1-family": _same(HALF, P1_GROUPS)},
    ),
    "classify": Protocol(
        name="classify",
        settings=(*CLASSIFY_MERGES, *CLASSIFY_DISTINCT),
        n_grid=CLASSIFY_GRID,
        replicates=REPLICATES,
        theory={s: _same(HALF, error_groups(get_setting(s).spec)) for s in CLASSIFY_DISTINCT},
    ),
}


def get_protocol(name: str) -> Protocol:
    """The named protocol."""
    require(name in PROTOCOLS, "protocol", f"unknown protocol {name!r}; choose from {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]
