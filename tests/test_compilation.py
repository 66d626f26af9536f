"""Fits compile once per (spec, options, data shape): a second call on new data of the same shape
compiles no XLA program, and NUTS spreads its chains over the CPU devices."""

from __future__ import annotations

from contextlib import contextmanager

import jax
import numpy as np
import pytest
from helpers import key, seed
from jax import monitoring

import bayescmoe as bc
from bayescmoe.inference.nuts import chain_devices

_compiles: list[float] = []
monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **_: _compiles.append(seconds) if "backend_compile" in event else None
)


@contextmanager
def counting_compilations():
    """Yield a list that fills with one entry per XLA compilation made inside the block."""
    start = len(_compiles)
    seen: list[float] = []
    yield seen
    seen.extend(_compiles[start:])


def _data(k: int, n: int = 400):
    setting = bc.get_setting("p2-distinguishable")
    return setting.spec, *bc.simulate(key(k), setting.spec, setting.truth.at(setting.spec, n), n)


@pytest.mark.slow
def test_counting_sees_a_compilation():
    spec, x, y = _data(0, n=123)  # a shape no other test uses
    with counting_compilations() as seen:
        bc.fit_mle(spec, x, y, key=seed(0), num_random_starts=1)
    assert seen  # the listener works, so an empty list below means no compilation


@pytest.mark.slow
def test_fit_mle_and_fit_nuts_do_not_recompile_on_new_data_of_the_same_shape():
    sizes = {"num_warmup": 150, "num_samples": 100, "num_chains": 4}
    spec, x, y = _data(1)
    first_mle = bc.fit_mle(spec, x, y, key=seed(0))
    first = bc.fit_nuts(spec, x, y, key=seed(0), init=first_mle.params, **sizes)
    spec, x2, y2 = _data(2)
    with counting_compilations() as seen:
        mle = bc.fit_mle(spec, x2, y2, key=seed(1))
        again = bc.fit_nuts(spec, x2, y2, key=seed(1), init=mle.params, **sizes)
    assert seen == []
    assert mle.log_likelihood != first_mle.log_likelihood  # really new data
    assert again.samples["nu"].shape == first.samples["nu"].shape == (4, 100)
    assert not np.array_equal(again.samples["tau"], first.samples["tau"])


def test_chains_are_spread_over_the_devices():
    assert jax.local_device_count() == 4
    assert [chain_devices(c) for c in (1, 2, 3, 4, 6, 8)] == [1, 2, 3, 4, 3, 4]


@pytest.mark.slow
def test_vectorized_chains_equal_parallel_chains():
    """The batched path a GPU would use (all chains vmapped on one device) draws what the parallel one does.

    Few transitions: a batched matrix product sums in another order, and NUTS trajectories are
    chaotic, so over hundreds of transitions the two become different (equally valid) chains.
    """
    spec, x, y = _data(3, n=300)
    init = bc.fit_map(spec, x, y, key=seed(0)).params
    sizes = {"num_warmup": 2, "num_samples": 4, "num_chains": 2}
    parallel = bc.fit_nuts(spec, x, y, key=seed(4), init=init, **sizes)
    vectorized = bc.fit_nuts(spec, x, y, key=seed(4), init=init, chain_method="vectorized", **sizes)
    for name in parallel.samples:
        np.testing.assert_allclose(vectorized.samples[name], parallel.samples[name], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(vectorized.stats["num_steps"], parallel.stats["num_steps"])


@pytest.mark.slow
def test_summed_observation_draws_what_the_pointwise_site_draws():
    """NUTS on the summed observation (the potential at large n, forced here at n = 300) moves
    through the same posterior: the same chains over a few transitions."""
    spec, x, y = _data(5, n=300)
    init = bc.fit_map(spec, x, y, key=seed(0)).params
    sizes = {"num_warmup": 2, "num_samples": 4, "num_chains": 2}
    pointwise = bc.fit_nuts(spec, x, y, key=seed(6), init=init, summed=False, **sizes)
    summed = bc.fit_nuts(spec, x, y, key=seed(6), init=init, summed=True, **sizes)
    for name in pointwise.samples:
        np.testing.assert_allclose(summed.samples[name], pointwise.samples[name], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(summed.stats["num_steps"], pointwise.stats["num_steps"])
