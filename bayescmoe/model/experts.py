"""Expert mean functions h(x) = act(a.x + b) (docs/science.md: *The model*).

``linear`` is a.x + b; the others apply an activation to the same affine map. Without an inner
bias (P2's prompt) b is absent. ReLU fails P2's strong identifiability, GELU satisfies it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from bayescmoe.errors import require

Array = jax.Array

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "linear": lambda z: z,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
}


def check_mean(name: str, field: str) -> None:
    """Raise a :class:`~bayescmoe.errors.BayescmoeError` unless ``name`` is a known mean function."""
    require(
        isinstance(name, str) and name in ACTIVATIONS,
        field,
        f"unknown expert {name!r}; choose from {sorted(ACTIVATIONS)}",
    )


def expert_mean(name: str, x: Array, weight: Array, bias: Array | float | None) -> Array:
    """h(x) = act(x @ weight + bias) for rows of ``x`` (n, d); ``bias=None`` means no bias."""
    z = x @ weight
    if bias is not None:
        z = z + bias
    return ACTIVATIONS[name](z)
