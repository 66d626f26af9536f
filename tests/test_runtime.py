"""Start-up configuration: float64, virtual devices, and NumPyro usable whatever was imported first."""

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


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


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
