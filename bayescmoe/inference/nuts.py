"""NUTS on the NumPyro model, compiled once per (spec, options, data shape) and run in parallel chains.

NumPyro's ``MCMC.run`` wraps every run in a new ``pmap`` and so recompiles for every dataset. Here
NumPyro's NUTS kernel (its ``init`` / ``sample`` pair) runs inside one jitted program of
(key, x, y, init): warmup and sampling are one ``lax.scan`` loop, and the chains are spread over
JAX's CPU devices with ``shard_map`` (each device runs its own chains to their own tree depths; see
:mod:`bayescmoe.runtime` for the device count). A second call on data of the same shape reuses the
compiled program, and a new process finds it in the persistent compilation cache. The frozen
expert's log-density is computed once per run, outside the sampler's loops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec
from numpyro.infer import NUTS

from bayescmoe.errors import require, require_positive_ints
from bayescmoe.model.likelihood import BLOCKED_ABOVE, frozen_log_density
from bayescmoe.model.numpyro_model import model, tempered_model
from bayescmoe.model.params import constrain, unconstrain
from bayescmoe.model.spec import ModelSpec, check_data, check_params

Array = jax.Array
#: the sampler statistics kept per draw (NumPyro's names; ArviZ renames them in ``sample_stats``)
STATS = ("energy", "diverging", "num_steps", "accept_prob", "potential_energy")
CHAIN_METHODS = ("parallel", "vectorized")
#: NUTS's default maximum tree depth (NumPyro's)
MAX_TREE_DEPTH = 10
#: a compiled NUTS run: (key, x, y, init=None) -> (draws by chain, statistics by chain)
NutsProgram = Callable[..., tuple[dict[str, Array], dict[str, Array]]]
#: a compiled NUTS run for replicate studies: (key, x, y, init=None) -> (draws by chain, divergences by chain)
NutsRun = Callable[..., tuple[dict[str, Array], Array]]


class NutsFit(NamedTuple):
    """A NUTS run: natural-parameter draws and sampler statistics (:data:`STATS`), each (chains, draws, ...)."""

    samples: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    max_tree_depth: int


def chain_devices(num_chains: int) -> int:
    """How many CPU devices share the chains: the largest divisor of ``num_chains`` not above the device count."""
    available = jax.local_device_count()
    return max(d for d in range(1, min(num_chains, available) + 1) if num_chains % d == 0)


@lru_cache(maxsize=32)
def nuts_program(
    spec: ModelSpec,
    *,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = MAX_TREE_DEPTH,
    chain_method: str = "parallel",
    regularize_mass_matrix: bool = False,
    tempered: bool = False,
    summed: bool | None = None,
) -> NutsProgram:
    """NUTS on ``model(spec, x, y)`` compiled as ``(key, x, y, init=None) -> (draws, statistics)`` by chain.

    ``init`` (natural parameters, e.g. the MAP) starts every chain there; without it NumPyro draws each
    chain's start uniformly in (-2, 2) on the unconstrained scale. ``chain_method``: ``"parallel"``
    spreads the chains over the devices (:func:`chain_devices`), ``"vectorized"`` runs them all on
    one device in lockstep (``vmap``: what a GPU wants; on CPU each step waits for the deepest tree).
    ``regularize_mass_matrix``: NumPyro's (and Stan's) shrinkage of the adapted variances towards
    1e-3, off by default: it adds about 1e-5 to each variance, 2-8 times the posterior variance of
    P2's prompt weights (nu* = 0.001), and doubled the leapfrog steps per draw there (13.4 against
    7.0; benchmarks/peers.py). The same (spec, options) returns the same function, which JAX
    compiles once per data shape.

    ``tempered``: sample the power posterior of :func:`~bayescmoe.model.numpyro_model.tempered_model`
    instead; the program then takes ``temper=(power, center, gamma)`` (``center`` None for the spec's
    prior), traced, so a whole ladder of temperatures runs on one compiled program.

    ``summed``: the potential takes the log-likelihood as one sum (the model's ``summed``
    observation, in row blocks above :data:`~bayescmoe.model.likelihood.BLOCKED_ABOVE` rows) instead
    of NumPyro's sum of the pointwise site; None (default): where the blocks pay, above that many rows.
    """
    require_positive_ints(num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
    require(chain_method in CHAIN_METHODS, "chain_method", f"must be one of {list(CHAIN_METHODS)}")
    kernel = NUTS(
        partial(tempered_model if tempered else model, spec),
        target_accept_prob=target_accept_prob,
        max_tree_depth=max_tree_depth,
        regularize_mass_matrix=regularize_mass_matrix,
    )
    devices = chain_devices(num_chains) if chain_method == "parallel" else 1
    mesh = Mesh(np.array(jax.local_devices()[:devices]), ("chain",))

    def one_chain(key: Array, data: tuple, u0: Mapping[str, Array] | None, observed: dict[str, bool]):
        def step(state, _):  # one NUTS transition; the kernel adapts while state.i < num_warmup
            state = kernel.sample(state, data, observed)
            return state, (state.z, {name: getattr(state, name) for name in STATS})

        state = kernel.init(key, num_warmup, u0, model_args=data, model_kwargs=observed)
        _, (z, stats) = jax.lax.scan(step, state, length=num_warmup + num_samples)  # one loop: traced once
        keep = partial(jax.tree.map, lambda v: v[num_warmup:])
        return constrain(spec, keep(z)), keep(stats)

    def block(keys: Array, data: tuple, u0: Mapping[str, Array] | None, observed: dict[str, bool]):
        if keys.shape[0] > 1:  # several chains per device: in lockstep
            lockstep = jax.vmap(partial(one_chain, observed=observed), in_axes=(0, None, 0 if u0 is not None else None))
            return lockstep(keys, data, u0)
        # one chain per device, not vmapped: batching NUTS turns its conds into selects of both
        # branches (and took 5 of the 6 s of tracing)
        first = partial(jax.tree.map, lambda v: v[0])
        return jax.tree.map(lambda v: v[None], one_chain(keys[0], data, None if u0 is None else first(u0), observed))

    chains, shared = PartitionSpec("chain"), PartitionSpec()

    @jax.jit
    def run(key: Array, inputs: Array, y: Array, init: Mapping[str, Array] | None = None, temper: tuple = ()):
        require(tempered == bool(temper), "temper", "(power, center, gamma) goes with tempered=True, and only there")
        data = (inputs, y, frozen_log_density(spec, inputs, y), *temper)  # log f0 once per run, not per leapfrog step
        u0 = (
            None
            if init is None
            else {k: jnp.broadcast_to(v, (num_chains, *jnp.shape(v))) for k, v in unconstrain(spec, init).items()}
        )
        observed = {"summed": y.shape[0] > BLOCKED_ABOVE if summed is None else summed}
        in_specs = (chains, shared, None if u0 is None else chains)
        mapped = jax.shard_map(
            partial(block, observed=observed), mesh=mesh, in_specs=in_specs, out_specs=chains, check_vma=False
        )
        return mapped(jax.random.split(key, num_chains), data, u0)

    return run


def fit_nuts(
    spec: ModelSpec,
    inputs: Array,
    y: Array,
    *,
    key: Array | int = 0,
    init: Mapping[str, Array] | None = None,
    **sampler: int | float | str | bool,
) -> NutsFit:
    """Run NUTS (``sampler``: options of :func:`nuts_program`); ``init`` (e.g. the MAP) starts every chain there.

    Without ``init`` NumPyro draws each chain's start uniformly in (-2, 2) on the unconstrained scale.
    Calling again on data of the same shape reuses the compiled program.
    """
    inputs, y = check_data(spec, inputs, y)
    if init is not None:
        init = {k: jnp.asarray(v, dtype=float) for k, v in check_params(spec, init, "init").items()}
    run = nuts_program(spec, **sampler)
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    samples, stats = jax.device_get(run(key, jnp.asarray(inputs), jnp.asarray(y), init))
    return NutsFit(samples, stats, int(sampler.get("max_tree_depth", MAX_TREE_DEPTH)))


@lru_cache(maxsize=16)
def compiled_nuts(spec: ModelSpec, **sampler: int | float | str | bool) -> NutsRun:
    """:func:`nuts_program` returning (draws by chain, divergences by chain), for replicate studies."""
    run = nuts_program(spec, **sampler)

    def draws_and_divergences(key: Array, inputs: Array, y: Array, init: Mapping[str, Array] | None = None):
        samples, stats = run(key, inputs, y, init)
        return samples, stats["diverging"]

    return draws_and_divergences
