"""Start-up: float64 and virtual CPU devices for parallel chains (STACK-NOTES.md), NumPyro loaded.

Both JAX settings must be made before JAX computes anything, so :mod:`bayescmoe` makes them on
import. Set ``BAYESCMOE_CPU_DEVICES`` to change the device count (default 4).

arviz-base loads NumPyro lazily (``lazy_loader``); a NumPyro submodule imported while the package
is still a lazy stub is not set as its attribute, and NumPyro's own ``numpyro.distributions.
distribution`` lookups then fail inside MCMC. Loading NumPyro here, before any of its submodules
is imported, avoids that whatever the user imported first.
"""

from __future__ import annotations

import os
import warnings

import jax
import numpyro

from bayescmoe.errors import require

DEFAULT_CPU_DEVICES = 4


def configure(num_cpu_devices: int | None = None) -> None:
    """Enable float64, ask JAX for ``num_cpu_devices`` virtual CPU devices, load NumPyro fully."""
    _ = numpyro.__version__  # forces a lazily imported numpyro to load (see module docstring)
    jax.config.update("jax_enable_x64", True)
    wanted = num_cpu_devices or int(os.environ.get("BAYESCMOE_CPU_DEVICES", DEFAULT_CPU_DEVICES))
    try:
        jax.config.update("jax_num_cpu_devices", wanted)
    except RuntimeError:
        warnings.warn(
            "JAX was initialised before bayescmoe was imported: chains may run sequentially. "
            "Import bayescmoe before any JAX computation.",
            stacklevel=2,
        )


def available_memory() -> int:
    """Bytes of memory this process can still use: MemAvailable of /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def require_memory(nbytes: float, field: str, what: str) -> None:
    """Raise a one-line :class:`~bayescmoe.errors.BayescmoeError` for ``field`` if ``nbytes`` exceed the memory left."""
    free = available_memory()
    require(
        nbytes < free, field, f"{what} needs about {nbytes / 1e9:.3g} GB, more than the {free / 1e9:.3g} GB available"
    )
