"""NUTS on the NumPyro model: parallel chains on virtual CPU devices, energy and divergences kept."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import jax
import jax.numpy as jnp
from numpyro.infer import MCMC, NUTS, init_to_uniform, init_to_value

from bayescmoe.errors import require_positive_ints
from bayescmoe.model import model
from bayescmoe.spec import ModelSpec, check_data, check_params

Array = jax.Array
EXTRA_FIELDS = ("energy", "diverging", "num_steps", "accept_prob")


def fit_nuts(
    spec: ModelSpec,
    x: Array,
    y: Array,
    *,
    key: Array | int = 0,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    init: Mapping[str, Array] | None = None,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    progress_bar: bool | None = None,
) -> MCMC:
    """Run NUTS; ``init`` (e.g. the MAP) starts every chain there, else NumPyro's uniform init.

    Chains run in parallel when JAX has at least ``num_chains`` devices, else one after the other.
    The progress bar shows when stderr is a terminal unless ``progress_bar`` says otherwise.
    """
    x, y = check_data(spec, x, y)
    require_positive_ints(num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
    strategy = init_to_uniform
    if init is not None:
        strategy = init_to_value(values={k: jnp.asarray(v) for k, v in check_params(spec, init, "init").items()})
    kernel = NUTS(model, init_strategy=strategy, target_accept_prob=target_accept_prob, max_tree_depth=max_tree_depth)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="parallel" if jax.local_device_count() >= num_chains else "sequential",
        progress_bar=sys.stderr.isatty() if progress_bar is None else progress_bar,
    )
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    mcmc.run(key, spec, jnp.asarray(x), jnp.asarray(y), extra_fields=EXTRA_FIELDS)
    jax.block_until_ready((mcmc.get_samples(), mcmc.get_extra_fields()))  # parallel chains run async
    return mcmc
