"""Test configuration: headless plots, bayescmoe configured (float64, 4 devices, cache), the seed shift, shared fits."""

from __future__ import annotations

import os

os.environ["MPLBACKEND"] = "Agg"  # headless plots, set before matplotlib is imported

from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SEED_SHIFT_ENV, key, make_params, make_spec, parse_seed_shift, seed, seed_shift, set_seed_shift

import bayescmoe
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_map, fit_mle
from bayescmoe.model.simulate import simulate
from bayescmoe.runtime import release_compiled_programs

bayescmoe.configure()  # 4 virtual CPU devices, the compilation cache, glibc's mmap threshold; before JAX computes


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed-shift",
        default=None,
        help=f"add N to every seed the tests use (default: ${SEED_SHIFT_ENV}, else 0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """The shift of ``--seed-shift``, else of BAYESCMOE_SEED_SHIFT (each xdist worker sets its own, the same)."""
    option = config.getoption("--seed-shift")
    try:
        set_seed_shift(parse_seed_shift(option if option is not None else os.environ.get(SEED_SHIFT_ENV)))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def pytest_report_header(config: pytest.Config) -> str:
    return f"seed shift: {seed_shift()} (--seed-shift N or {SEED_SHIFT_ENV})"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The shift again at the end (``-q`` hides the header), so a failing log says where it ran."""
    terminalreporter.write_line(f"seed shift: {seed_shift()}")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """After a module, drop JAX's compiled programs if they hold too many memory mappings: a worker that runs
    hundreds of tests compiles thousands of them, and one reached 64,337 of the kernel's 65,530 mappings, after
    which the next compilation failed (:func:`bayescmoe.runtime.release_compiled_programs`)."""
    yield
    release_compiled_programs()


#: sample size of the shared distinguishable fit (MLE, MAP and NUTS on the same data)
N_SHARED = 3000


@pytest.fixture(scope="session")
def distinguishable_fit() -> SimpleNamespace:
    """Student-t frozen expert, linear experts, constant gate, d = 2, n = 3000: MLE, MAP and 2 x 300 NUTS draws."""
    spec = make_spec("student_t")
    truth = make_params(spec)
    x, y = simulate(key(1), spec, {k: jnp.asarray(v) for k, v in truth.items()}, N_SHARED)
    x, y = np.asarray(x), np.asarray(y)
    mle = fit_mle(spec, x, y, init=truth, key=seed(0), num_random_starts=2)
    map_ = fit_map(spec, x, y, init=truth, key=seed(0), num_random_starts=2)
    nuts = fit_nuts(spec, x, y, key=seed(2), num_warmup=300, num_samples=300, num_chains=2)
    return SimpleNamespace(spec=spec, truth=truth, x=x, y=y, mle=mle, map=map_, nuts=nuts)
