"""Test configuration: headless plots, bayescmoe configured (float64, 4 devices, cache), shared compile-heavy fits."""

from __future__ import annotations

import os

os.environ["MPLBACKEND"] = "Agg"  # headless plots, set before matplotlib is imported

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import make_params, make_spec

import bayescmoe
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_map, fit_mle
from bayescmoe.model.simulate import simulate

bayescmoe.configure()  # 4 virtual CPU devices and the compilation cache, before any JAX computation

#: sample size of the shared distinguishable fit (MLE, MAP and NUTS on the same data)
N_SHARED = 3000


@pytest.fixture(scope="session")
def distinguishable_fit() -> SimpleNamespace:
    """Student-t frozen expert, linear experts, constant gate, d = 2, n = 3000: MLE, MAP and 2 x 300 NUTS draws."""
    spec = make_spec("student_t")
    truth = make_params(spec)
    x, y = simulate(jax.random.PRNGKey(1), spec, {k: jnp.asarray(v) for k, v in truth.items()}, N_SHARED)
    x, y = np.asarray(x), np.asarray(y)
    mle = fit_mle(spec, x, y, init=truth, key=0, num_random_starts=2)
    map_ = fit_map(spec, x, y, init=truth, key=0, num_random_starts=2)
    nuts = fit_nuts(spec, x, y, key=2, num_warmup=300, num_samples=300, num_chains=2)
    return SimpleNamespace(spec=spec, truth=truth, x=x, y=y, mle=mle, map=map_, nuts=nuts)
