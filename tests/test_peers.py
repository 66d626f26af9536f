"""The hand-written NumPyro model of tests/reference.py (the peers benchmark's contestant): bayescmoe's posterior."""

from __future__ import annotations

from functools import partial

import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import key, seed
from numpyro.infer.util import log_density

from bayescmoe.model.numpyro_model import model as bayescmoe_model
from bayescmoe.model.params import constrain, log_posterior, unconstrain
from bayescmoe.model.settings import get_setting
from bayescmoe.model.simulate import simulate


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p1-family", "p2-distinguishable"])
def test_hand_written_numpyro_log_density_matches_the_package(name):
    setting = get_setting(name)
    spec, truth = setting.spec, setting.truth.at(setting.spec, 200)
    x, y = simulate(key(3), spec, truth, 200)
    desc = reference.describe(spec.to_config())
    assert desc.names == spec.param_names
    hand = reference.numpyro_model(desc)
    rng = np.random.default_rng(seed(0))
    for scale in (0.0, 0.3, 1.0):
        u = {k: v + scale * rng.standard_normal(np.shape(v)) for k, v in unconstrain(spec, truth).items()}
        theta = constrain(spec, u)
        ref = float(log_posterior(spec, theta, x, y))
        assert float(log_density(hand, (x, y), {}, theta)[0]) == pytest.approx(ref, rel=1e-10)
        ref_u, ref_g = reference.unconstrained_density(partial(bayescmoe_model, spec), u, x, y, desc.names)
        hand_u, hand_g = reference.unconstrained_density(hand, u, x, y, desc.names)
        assert hand_u == pytest.approx(ref_u, rel=1e-10)
        np.testing.assert_allclose(hand_g, ref_g, rtol=1e-8, atol=1e-8)
    assert jnp.isfinite(ref)
