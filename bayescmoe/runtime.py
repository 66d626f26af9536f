"""Start-up settings: what ``import bayescmoe`` does, and what :func:`configure` does when asked.

Importing the package switches JAX to float64 (:func:`enable_float64`; every likelihood, optimiser
and sampler here needs it: in float32 quasi-Newton stops early and reports failure at the optimum)
and loads nothing heavy: the public names and the layers are imported when first used, so that
``bayescmoe --help`` starts without JAX. When JAX is not loaded yet, the switch is JAX's own
``JAX_ENABLE_X64`` environment variable, which JAX reads when it loads (child processes inherit it).

NumPyro is loaded fully before the model layer is (:func:`load_numpyro`). arviz-base loads NumPyro
lazily (``lazy_loader``); a NumPyro submodule imported while the package is still a lazy stub is not
set as its attribute, and NumPyro's own ``numpyro.distributions.distribution`` lookups then fail
inside MCMC (and ``az.from_numpyro``). Loading NumPyro and setting the missing submodule attributes
avoids that whatever the user imported before; the import of the package does it too when NumPyro
is already in ``sys.modules``.

Everything else is an explicit call, as NumPyro's ``set_host_device_count`` is.
:func:`configure` asks JAX for virtual CPU devices (NUTS runs its chains in parallel over them;
without it they share one device) and turns on JAX's persistent compilation cache, so that a new
process finds the programs an earlier one compiled (otherwise each recompiles, 5-7 s per L-BFGS
program). With several devices it also keeps glibc from hoarding the memory the chains free
(:func:`fix_mmap_threshold`). The command line, the ``models/`` scripts and the analyses call it.
The device count can only be set before JAX computes anything: call :func:`configure` first.

The cache's folder (:func:`compilation_cache_dir`): ``$XDG_CACHE_HOME/bayescmoe/jax``
(``~/.cache/bayescmoe/jax``), or the folder ``BAYESCMOE_COMPILATION_CACHE`` names (``off``
disables it); JAX's own ``JAX_COMPILATION_CACHE_DIR``, when set, wins. ``BAYESCMOE_CPU_DEVICES``
sets the device count :func:`configure` asks for by default (4).
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings
from pathlib import Path

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
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
    return path


def enable_float64() -> None:
    """Switch JAX to float64 (what ``import bayescmoe`` does; module docstring): at once when JAX is
    loaded, otherwise through ``JAX_ENABLE_X64``; a NumPyro already imported is loaded fully."""
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        os.environ["JAX_ENABLE_X64"] = "1"
    if "numpyro" in sys.modules:
        load_numpyro()


def load_numpyro() -> None:
    """Import JAX in float64 and NumPyro fully, and set the NumPyro submodules that a lazy stub left
    unset as attributes (module docstring); the model layer calls it before it imports NumPyro."""
    import jax
    import numpyro

    jax.config.update("jax_enable_x64", True)
    _ = numpyro.__version__  # forces a lazily imported numpyro to load
    for name, module in list(sys.modules.items()):  # submodules imported while numpyro was a lazy stub
        parent, _, child = name.rpartition(".")
        if name.startswith("numpyro.") and module is not None and not hasattr(sys.modules.get(parent), child):
            setattr(sys.modules[parent], child, module)


def configure(cpu_devices: int | None = None, compilation_cache: bool = True) -> Path | None:
    """Ask JAX for ``cpu_devices`` virtual CPU devices (default ``BAYESCMOE_CPU_DEVICES`` or 4) and, with
    ``compilation_cache``, turn on the persistent compilation cache; returns the cache's folder or None.

    Call it before any JAX computation: afterwards the device count cannot change (a warning says so).
    With several devices it also fixes glibc's mmap threshold (:func:`fix_mmap_threshold`).
    """
    import jax

    if (cpu_devices or int(os.environ.get("BAYESCMOE_CPU_DEVICES", DEFAULT_CPU_DEVICES))) > 1:
        fix_mmap_threshold()

    wanted = cpu_devices or int(os.environ.get("BAYESCMOE_CPU_DEVICES", DEFAULT_CPU_DEVICES))
    require(wanted >= 1, "cpu_devices", f"must be at least 1, got {wanted}")
    try:
        jax.config.update("jax_num_cpu_devices", wanted)
    except RuntimeError:
        if jax.local_device_count() != wanted:
            warnings.warn(
                f"JAX computed before bayescmoe.configure(): it keeps {jax.local_device_count()} device(s), "
                "so NUTS chains may share one. Call configure() before any JAX computation.",
                stacklevel=2,
            )
    return enable_compilation_cache() if compilation_cache else None


#: glibc's default mmap threshold: larger blocks are mapped, and unmapped when freed
MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> bool:
    """Keep glibc from raising its mmap threshold (``mallopt(M_MMAP_THRESHOLD)``); whether it applied.

    glibc raises the threshold to the size of each mapped block that is freed, so a program that frees
    many blocks just above 128 KiB soon allocates them from its per-thread heaps instead, which keep
    freed memory. XLA's temporaries are such blocks once n > 16384 rows of float64: with four chains on
    four devices, a NUTS run at n = 16385 then held 17.9 GB (0.66 GB with the threshold fixed, as fast).
    Elsewhere than glibc (macOS, musl) nothing changes.
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(-3, MMAP_THRESHOLD))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


#: :func:`release_compiled_programs` acts once the process holds this share of the kernel's memory mappings
MAPPINGS_SHARE = 0.25


def memory_mappings() -> tuple[int, int]:
    """This process's memory mappings and the kernel's limit on them (``vm.max_map_count``); (0, 1) off Linux."""
    try:
        with open("/proc/self/maps") as maps, open("/proc/sys/vm/max_map_count") as limit:
            return sum(1 for _ in maps), int(limit.read())
    except OSError:
        return 0, 1


def release_compiled_programs(share: float = MAPPINGS_SHARE) -> bool:
    """Drop JAX's in-memory compiled programs (``jax.clear_caches``) once the process holds ``share`` of the
    memory mappings the kernel allows; whether it did.

    Each XLA:CPU program keeps about three mappings while JAX caches it, and a long study compiles new ones
    for every model and size it fits: a run of 130 two-prompt fits reached Linux's default limit (65,530),
    after which no program can be loaded ("Failed to materialize symbols", "Cannot allocate memory"). The
    study runner calls this after every cell; the persistent compilation cache reloads what is needed again.
    """
    used, limit = memory_mappings()
    if used <= share * limit or "jax" not in sys.modules:
        return False
    sys.modules["jax"].clear_caches()
    return True


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
