"""Does the prompt predict better than the frozen expert alone? LOO against the frozen log score.

The frozen expert alone has no free parameter, so its leave-one-out log predictive density is
exactly its log density, sum_i log f0(y_i | h0(x_i), nu0). The contaminated MoE's is ArviZ's
PSIS-LOO (``az.loo``). Their pointwise difference gives the gain and its standard error
sqrt(n var_i(elpd_i - log f0_i)), as ``az.compare`` computes for two models.
"""

from __future__ import annotations

from typing import NamedTuple

import arviz as az
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayescmoe.errors import require
from bayescmoe.model.likelihood import frozen_log_density
from bayescmoe.results.datatree import data_of, spec_of


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


def prompt_gain(dt: xr.DataTree) -> PromptGain:
    """PSIS-LOO of a NUTS result (with its ``log_likelihood`` group) against the frozen expert alone."""
    require("log_likelihood" in dt.children, "result", "has no log_likelihood group (fitted with --no-log-likelihood)")
    loo = az.loo(dt, pointwise=True)
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
