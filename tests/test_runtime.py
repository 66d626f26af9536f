"""Start-up: the import switches on float64 only; configure() adds devices and the cache; NumPyro loads fully."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest
from helpers import seed


def test_float64_and_four_devices():
    assert jnp.zeros(1).dtype == jnp.float64
    assert jax.local_device_count() == 4


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    unset = ("JAX_COMPILATION_CACHE_DIR", "XLA_FLAGS", "JAX_ENABLE_X64")
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=clean)


def test_the_import_sets_float64_only_and_configure_the_rest(tmp_path):
    code = (
        "import jax, bayescmoe\n"
        "assert jax.config.jax_enable_x64\n"
        "assert jax.config.jax_compilation_cache_dir is None, 'the import turned on a cache'\n"
        "assert bayescmoe.configure(cpu_devices=3) == __import__('pathlib').Path(r'CACHE')\n"
        "assert jax.config.jax_compilation_cache_dir == r'CACHE'\n"
        "print(jax.local_device_count())"
    ).replace("CACHE", str(tmp_path / "cache"))
    proc = _run(code, BAYESCMOE_COMPILATION_CACHE=str(tmp_path / "cache"))
    assert proc.returncode == 0 and proc.stdout.strip() == "3", proc.stderr
    without = _run("import jax, bayescmoe\nprint(jax.local_device_count())")
    assert without.returncode == 0 and without.stdout.strip() == "1", without.stderr


def test_the_import_loads_no_jax_yet_jax_computes_in_float64():
    code = (
        "import sys, bayescmoe\n"
        "heavy = [m for m in ('jax', 'numpyro', 'arviz', 'xarray', 'matplotlib') if m in sys.modules]\n"
        "import jax.numpy as jnp\n"
        "print(heavy, jnp.zeros(1).dtype, bayescmoe.fit.__module__, 'fit' in dir(bayescmoe))"
    )
    expected = "[] float64 bayescmoe.workflow.fitting True"
    for env in ({}, {"JAX_ENABLE_X64": "0"}):  # the import wins over a float32 setting, as it always did
        proc = _run(code, **env)
        assert proc.returncode == 0 and proc.stdout.strip() == expected, proc.stderr


def test_configure_after_jax_computed_warns_that_devices_stay():
    code = (
        "import warnings, jax, jax.numpy as jnp, bayescmoe\n"
        "jnp.zeros(1).block_until_ready()\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    bayescmoe.configure(cpu_devices=2, compilation_cache=False)\n"
        "print(jax.local_device_count(), any('before any JAX computation' in str(w.message) for w in caught))"
    )
    proc = _run(code)
    assert proc.returncode == 0 and proc.stdout.strip() == "1 True", proc.stderr


@pytest.mark.slow
def test_numpyro_works_when_arviz_is_imported_first():
    # arviz-base loads numpyro lazily; bayescmoe must load it fully so MCMC's internal lookups work
    code = (
        "import arviz, bayescmoe\n"
        "import numpyro.distributions as d\n"
        "assert hasattr(d, 'distribution')\n"
        "import numpyro\n"
        "numpyro.factor  # the primitive that failed when numpyro was a lazy stub\n"
        "print('ok')"
    )
    proc = _run(code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    # numpyro.infer imported between arviz and bayescmoe: its submodules become attributes again
    late = _run(
        "import arviz, numpyro.infer\n"
        "broken = not hasattr(numpyro.infer, 'initialization')\n"
        "import bayescmoe\n"
        "print(broken, hasattr(numpyro.infer, 'initialization'))"
    )
    assert late.returncode == 0 and late.stdout.strip() == "True True", late.stderr
    # arviz imported after bayescmoe but before its layers: loading the model layer repairs numpyro
    after = _run(
        "import bayescmoe, arviz, numpyro.infer\n"
        "broken = not hasattr(numpyro.infer, 'initialization')\n"
        "import bayescmoe.inference\n"
        "print(broken, hasattr(numpyro.infer, 'initialization'))"
    )
    assert after.returncode == 0 and after.stdout.strip() == "True True", after.stderr


def test_compilation_cache_folder_rules(monkeypatch, tmp_path):
    from bayescmoe.runtime import CACHE_ENV, compilation_cache_dir

    for name in ("JAX_COMPILATION_CACHE_DIR", CACHE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compilation_cache_dir() == tmp_path / "xdg" / "bayescmoe" / "jax"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert compilation_cache_dir() == tmp_path / "mine"
    for off in ("off", "0", ""):
        monkeypatch.setenv(CACHE_ENV, off)
        assert compilation_cache_dir() is None
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compilation_cache_dir() == tmp_path / "jax"  # JAX's own setting wins


@pytest.mark.slow
def test_a_second_process_compiles_nothing_new(tmp_path):
    """The persistent cache: the first process writes its compiled L-BFGS programs, the second reads them."""
    code = (
        "import jax, bayescmoe as bc\n"
        "bc.configure()\n"
        "s = bc.get_setting('p1-family')\n"
        f"x, y = bc.simulate(jax.random.PRNGKey({seed(0)}), s.spec, s.truth.at(s.spec, 300), 300)\n"
        f"print(repr(bc.fit_mle(s.spec, x, y, key={seed(0)}, num_random_starts=1).log_likelihood))"
    )
    env = {**os.environ, "BAYESCMOE_COMPILATION_CACHE": str(tmp_path / "cache")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)]
    first = sorted(p.name for p in (tmp_path / "cache").iterdir())
    runs.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env))
    assert all(r.returncode == 0 for r in runs), [r.stderr[-500:] for r in runs]
    second = sorted(p.name for p in (tmp_path / "cache").iterdir())
    solver = [name for name in first if name.startswith("jit__lbfgs")]
    assert solver and set(first) <= set(second)  # small programs near the time threshold may join later
    assert [name for name in second if name.startswith("jit__lbfgs")] == solver  # the solver is not recompiled
    assert runs[0].stdout == runs[1].stdout  # the same fit from cached programs


@pytest.mark.slow
def test_parallel_chains_at_large_n_give_their_memory_back():
    """Four chains on four devices at n = 16385 (XLA's temporaries just above glibc's 128 KiB mmap threshold) held
    17.9 GB at peak before configure() fixed the threshold; 0.66 GB after. A peak under 3 GB is a clear margin.
    The peak is the child's VmHWM, its own address space's: ``ru_maxrss`` would also count the pytest worker's
    resident memory at the fork (Linux carries the parent's high-water mark through fork and exec)."""
    code = (
        "import jax, bayescmoe as bc\n"
        "bc.configure(compilation_cache=False)\n"
        "from bayescmoe.studies.singular_validation import SMALL, MERGED\n"
        f"x, y = bc.simulate(jax.random.PRNGKey({seed(1)}), SMALL, MERGED, 16385)\n"
        f"bc.fit_nuts(SMALL, x, y, key={seed(2)}, num_warmup=200, num_samples=200, num_chains=4)\n"
        "print(next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')) / 1e6)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert float(proc.stdout.strip().splitlines()[-1]) < 3.0


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="memory mappings are read from Linux's /proc")
def test_released_programs_give_their_memory_mappings_back():
    """300 compiled programs hold about three mappings each until release_compiled_programs drops them; below
    its share of the kernel's limit it leaves them."""
    from bayescmoe.runtime import memory_mappings, release_compiled_programs

    run = jax.jit(lambda x: jnp.sin(x) * 2 + jnp.cos(x) ** 2)
    for n in range(1, 301):  # one program per shape, all kept by the jit cache
        run(jnp.ones(n)).block_until_ready()
    held, limit = memory_mappings()
    assert not release_compiled_programs(share=1.0)  # far below the limit: nothing dropped
    assert memory_mappings()[0] >= held - 10
    assert release_compiled_programs(share=0.0)
    assert held - memory_mappings()[0] > 2 * 300  # at least two of each program's mappings went
    assert limit > held
