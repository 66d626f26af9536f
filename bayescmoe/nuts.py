"""NUTS on the NumPyro model: parallel chains on virtual CPU devices, energy and divergences kept.

:func:`nuts_sampler` builds an ``MCMC`` bound to one spec that compiles once and reruns on new data
of the same shape (``jit_model_args``): replicate studies (coverage, contraction, SBC) call
:func:`run_nuts` on it once per dataset. :func:`fit_nuts` is the one-off fit.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
from numpyro.infer import MCMC, NUTS

from bayescmoe.errors import require_positive_ints
from bayescmoe.model import model
from bayescmoe.optimize import unconstrain
from bayescmoe.spec import ModelSpec, check_data, check_params

Array = jax.Array
EXTRA_FIELDS = ("energy", "diverging", "num_steps", "accept_prob")


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
    """An ``MCMC`` running NUTS on ``model(spec, x, y)``, reusable across datasets of one shape.

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


def run_nuts(
    mcmc: MCMC, spec: ModelSpec, x: Array, y: Array, *, key: Array | int = 0, init: Mapping[str, Array] | None = None
) -> MCMC:
    """Run ``mcmc`` (from :func:`nuts_sampler` for ``spec``) on (x, y); ``init`` starts every chain there.

    Without ``init`` NumPyro draws each chain's start uniformly in (-2, 2) on the unconstrained scale.
    """
    x, y = check_data(spec, x, y)
    init_params = None
    if init is not None:
        u = unconstrain(spec, check_params(spec, init, "init"))
        init_params = {k: jnp.broadcast_to(v, (mcmc.num_chains, *jnp.shape(v))) for k, v in u.items()}
        if mcmc.num_chains == 1:
            init_params = {k: v[0] for k, v in init_params.items()}
    key = jax.random.PRNGKey(key) if isinstance(key, int) else key
    mcmc.run(key, jnp.asarray(x), jnp.asarray(y), extra_fields=EXTRA_FIELDS, init_params=init_params)
    jax.block_until_ready((mcmc.get_samples(), mcmc.get_extra_fields()))  # parallel chains run async
    return mcmc


def fit_nuts(
    spec: ModelSpec,
    x: Array,
    y: Array,
    *,
    key: Array | int = 0,
    init: Mapping[str, Array] | None = None,
    **sampler: int | float | bool | None,
) -> MCMC:
    """One NUTS fit: :func:`run_nuts` on a fresh :func:`nuts_sampler` (``sampler`` = its options)."""
    x, y = check_data(spec, x, y)
    return run_nuts(nuts_sampler(spec, **sampler), spec, x, y, key=key, init=init)
