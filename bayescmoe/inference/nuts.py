"""NUTS on the NumPyro model: parallel chains on virtual CPU devices, energy and divergences kept.

:func:`fit_nuts` is the one-off fit (an ``MCMC`` object, for :func:`bayescmoe.results.datatree.to_datatree`).
Replicate studies (coverage, contraction, SBC) use :func:`compiled_nuts`: NumPyro wraps every
``MCMC.run`` in a new ``pmap`` and so recompiles per dataset, while the whole run jitted as a
function of (key, x, y, init) compiles once per data shape and reruns in a fraction of a second.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
from numpyro.infer import MCMC, NUTS

from bayescmoe.errors import require_positive_ints
from bayescmoe.inference.optimize import unconstrain
from bayescmoe.model.numpyro_model import model
from bayescmoe.model.spec import ModelSpec, check_data, check_params

Array = jax.Array
EXTRA_FIELDS = ("energy", "diverging", "num_steps", "accept_prob")
#: a compiled NUTS run: (key, x, y, init=None) -> (draws by chain, divergences by chain)
NutsRun = Callable[..., tuple[dict[str, Array], Array]]


def nuts_sampler(
    spec: ModelSpec,
    *,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    progress_bar: bool | None = None,
) -> MCMC:
    """An ``MCMC`` running NUTS on ``model(spec, x, y)`` (data passed to ``run`` as arguments).

    Chains run in parallel when JAX has at least ``num_chains`` devices, else one after the other.
    The progress bar shows when stderr is a terminal unless ``progress_bar`` says otherwise.
    """
    require_positive_ints(num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
    kernel = NUTS(partial(model, spec), target_accept_prob=target_accept_prob, max_tree_depth=max_tree_depth)
    return MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="parallel" if jax.local_device_count() >= num_chains else "sequential",
        progress_bar=sys.stderr.isatty() if progress_bar is None else progress_bar,
        jit_model_args=True,
    )


def chain_inits(spec: ModelSpec, init: Mapping[str, Array], num_chains: int) -> dict[str, Array]:
    """``init`` (natural parameters) on the unconstrained scale, repeated for each chain when there are several."""
    u = unconstrain(spec, init)
    return u if num_chains == 1 else {k: jnp.broadcast_to(v, (num_chains, *jnp.shape(v))) for k, v in u.items()}


def fit_nuts(
    spec: ModelSpec,
    x: Array,
    y: Array,
    *,
    key: Array | int = 0,
    init: Mapping[str, Array] | None = None,
    **sampler: int | float | bool | None,
) -> MCMC:
    """Run NUTS (``sampler``: options of :func:`nuts_sampler`); ``init`` (e.g. the MAP) starts every chain there.

    Without ``init`` NumPyro draws each chain's start uniformly in (-2, 2) on the unconstrained scale.
    """
    x, y = check_data(spec, x, y)
    mcmc = nuts_sampler(spec, **sampler)
    init_params = None if init is None else chain_inits(spec, check_params(spec, init, "init"), mcmc.num_chains)
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    mcmc.run(key, jnp.asarray(x), jnp.asarray(y), extra_fields=EXTRA_FIELDS, init_params=init_params)
    jax.block_until_ready((mcmc.get_samples(), mcmc.get_extra_fields()))  # parallel chains run async
    return mcmc


@lru_cache(maxsize=16)
def compiled_nuts(spec: ModelSpec, **sampler: int | float) -> NutsRun:
    """NUTS compiled once as ``(key, x, y, init=None) -> (draws by chain, divergences by chain)``.

    ``sampler``: options of :func:`nuts_sampler`. The same (spec, options) returns the same function,
    so callers need no cache of their own; JAX compiles it once per data shape. Chains run one after
    the other (``lax.map``) inside the compiled program; ``init`` (natural parameters, e.g. the MAP) starts every chain
    there, else NumPyro's data-free uniform (-2, 2) start on the unconstrained scale.
    """
    mcmc = nuts_sampler(spec, progress_bar=False, **sampler)
    mcmc.chain_method = lambda chain: partial(jax.lax.map, chain)  # NumPyro accepts a callable chain method

    @jax.jit
    def run(key: Array, x: Array, y: Array, init: Mapping[str, Array] | None = None) -> tuple[dict[str, Array], Array]:
        init_params = None if init is None else chain_inits(spec, init, mcmc.num_chains)
        mcmc.run(key, x, y, extra_fields=("diverging",), init_params=init_params)
        return mcmc.get_samples(group_by_chain=True), mcmc.get_extra_fields(group_by_chain=True)["diverging"]

    return run
