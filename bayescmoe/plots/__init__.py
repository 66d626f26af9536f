"""The plots layer: every figure, drawn from numbers computed below (no statistics computed here).

``fit`` (trace and pair plots of a result), ``checks`` (posterior predictive and LOO-PIT),
``rates``, ``coverage``, ``fisher``, ``geometry``, ``sbc`` and ``classify`` (the figures of the studies). Each
function writes one PNG atomically and returns its path. May import every layer below it; the
command layer (CLI, ``analyses/``, ``models/``) calls it.
"""

from bayescmoe.plots.checks import plot_loo_pit, plot_ppc
from bayescmoe.plots.coverage import plot_coverage
from bayescmoe.plots.fisher import plot_eigenvalues
from bayescmoe.plots.fit import plot_pair, plot_trace
from bayescmoe.plots.geometry import plot_combinations, plot_funnel, plot_ridge
from bayescmoe.plots.rates import plot_rates
from bayescmoe.plots.sbc import plot_ecdf_difference, plot_rank_histograms

__all__ = [
    "plot_combinations",
    "plot_coverage",
    "plot_ecdf_difference",
    "plot_eigenvalues",
    "plot_funnel",
    "plot_loo_pit",
    "plot_pair",
    "plot_ppc",
    "plot_rank_histograms",
    "plot_rates",
    "plot_ridge",
    "plot_trace",
]
