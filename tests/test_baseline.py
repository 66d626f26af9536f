"""The NumPy/SciPy EM of tests/reference.py (the sweep benchmark's baseline): an independent check of EM."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import key, ref_log_likelihood, seed
from reference import baseline_em

from bayescmoe.inference.em import em_fit
from bayescmoe.model.likelihood import log_likelihood
from bayescmoe.model.params import constrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.sweep import SweepConfig, simulate_cell


@pytest.mark.parametrize("name", ["p1-family", "p1-structure", "p2-distinguishable", "p2-merging-eta"])
def test_baseline_log_likelihood_matches_the_package(name):
    setting = get_setting(name)
    spec, truth = setting.spec, setting.truth.at(setting.spec, 300)
    x, y = simulate(key(5), spec, truth, 300)
    # away from the truth, with the prompt's variance small enough for both components to matter
    params = {k: np.asarray(v) * 1.1 if k != "lam" else np.asarray(0.6) for k, v in truth.items()}
    ours = log_likelihood(spec, {k: jnp.asarray(v) for k, v in params.items()}, x, y)
    baseline = ref_log_likelihood(spec, params, np.asarray(x), np.asarray(y))
    np.testing.assert_allclose(baseline, np.asarray(ours), rtol=1e-10, atol=1e-10)


@pytest.mark.slow
def test_baseline_em_reaches_our_em_optimum():
    setting = get_setting("p1-family")
    spec = setting.spec.with_priors("flat")
    cell = simulate_cell(setting, 500, 0, SweepConfig(seed=seed(0)))
    x, y = np.asarray(cell.x)[:500], np.asarray(cell.y)[:500]
    start = {k: np.asarray(v) for k, v in constrain(cell.spec, cell.starts[0]).items()}
    baseline = baseline_em(spec, start, x, y)
    ours = em_fit(spec, start, jnp.asarray(x), jnp.asarray(y), jnp.ones(len(y)), 2000, 1e-10)
    assert baseline.converged and bool(ours.converged)
    assert baseline.mean_loglik == pytest.approx(float(ours.mean_loglik), abs=1e-6)
    for k in spec.param_names:
        np.testing.assert_allclose(baseline.params[k], ours.params[k], rtol=1e-3, atol=1e-4)
