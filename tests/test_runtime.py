"""Start-up configuration: float64, virtual devices, and NumPyro usable whatever was imported first."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp


def test_float64_and_four_devices():
    assert jnp.zeros(1).dtype == jnp.float64
    assert jax.local_device_count() == 4


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


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
