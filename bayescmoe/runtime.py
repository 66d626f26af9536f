"""Start-up: float64, virtual CPU devices for parallel chains (STACK-NOTES.md), JAX's persistent
compilation cache, NumPyro loaded.

The JAX settings must be made before JAX computes anything, so :mod:`bayescmoe` makes them on
import. Set ``BAYESCMOE_CPU_DEVICES`` to change the device count (default 4).

Compiled programs persist across processes (a fresh process otherwise recompiles every program,
5-7 s per L-BFGS program): in ``$XDG_CACHE_HOME/bayescmoe/jax`` (``~/.cache/bayescmoe/jax``), or
the folder ``BAYESCMOE_COMPILATION_CACHE`` names (``off`` disables it); JAX's own
``JAX_COMPILATION_CACHE_DIR``, when set, wins (:func:`compilation_cache_dir`).

arviz-base loads NumPyro lazily (``lazy_loader``); a NumPyro submodule imported while the package
is still a lazy stub is not set as its attribute, and NumPyro's own ``numpyro.distributions.
distribution`` lookups then fail inside MCMC. Loading NumPyro here, before any of its submodules
is imported, avoids that whatever the user imported first.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax
import numpyro

from bayescmoe.errors import require

DEFAULT_CPU_DEVICES = 4
#: the environment variable that moves (a folder) or disables (one of :data:`CACHE_OFF`) the cache
CACHE_ENV = "BAYESCMOE_COMPILATION_CACHE"
CACHE_OFF = ("", "0", "off", "false", "no", "none")
#: programs that compile at least this long are cached (JAX's default, 1 s, would skip most of ours)
CACHE_MIN_COMPILE_SECONDS = 0.1


def compilation_cache_dir() -> Path | None:
    """The persistent compilation cache's folder, or None when disabled (module docstring)."""
    jax_own = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if jax_own:
        return Path(jax_own)
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in CACHE_OFF else Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bayescmoe" / "jax"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`compilation_cache_dir`; the folder, or None."""
    path = compilation_cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        warnings.warn(f"no compilation cache: cannot create {path} ({err.strerror or err})", stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
    return path


def configure(num_cpu_devices: int | None = None) -> None:
    """Enable float64, ask JAX for ``num_cpu_devices`` virtual CPU devices, turn on the persistent
    compilation cache, load NumPyro fully."""
    _ = numpyro.__version__  # forces a lazily imported numpyro to load (see module docstring)
    jax.config.update("jax_enable_x64", True)
    enable_compilation_cache()
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
