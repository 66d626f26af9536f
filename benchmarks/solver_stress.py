"""Solver stress suite: MLE fits started near the truth, against the truth's log-likelihood (bayescmoe.studies.stress).

Grid (d = 8): noise variance nu0 x frozen family (Gaussian, Laplace, Student-t(5)) x gate (constant
with linear experts, P1; sigmoid with tanh experts, P2) x merging distance Delta x n, replicates per
cell. Each cell's data and start (the truth perturbed by N(0, 0.1^2) on the unconstrained scale, as
in the rate sweeps) are fitted by three solvers: preconditioned L-BFGS (the package's), plain
L-BFGS, and EM (at most 2000 iterations). Reported per solver: the share of fits that end below the
truth's log-likelihood by more than 1e-6 n, the worst such gap, the share converged (honest: a
saturated gate or a variance spike is not convergence), and the median and worst shortfall against
the best of the three solvers on the same data.

    python benchmarks/solver_stress.py                 # nu0 in 1e-3..1, Delta in 1..0, n in 1e3..1e5 (288 cells)
    python benchmarks/solver_stress.py --large         # the n = 1e6 slice: nu0 in {1e-3, 0.1}, Delta in {1, 0}, no EM
    python benchmarks/solver_stress.py --quick         # what the tests run
    python benchmarks/solver_stress.py --prompts       # K = 1, 2 prompts, Gaussian, Laplace, Student-t ones (48 cells)

Resumable: rerunning the same command continues from <out>/stress.nc and its journal.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

import bayescmoe
from bayescmoe.cli import OneLineParser, guarded
from bayescmoe.files import atomic_write, require_writable
from bayescmoe.studies.stress import FAMILIES, StressConfig, cell_table, run_stress, stress_summary
from bayescmoe.studies.sweep import SweepConfig

PRESETS = {
    "full": StressConfig(),
    "large": StressConfig(nu0=(1e-3, 1e-1), deltas=(1.0, 0.0), n_grid=(1_000_000,), replicates=1, em_max_n=100_000),
    "quick": StressConfig(
        nu0=(0.1,),
        families=("gaussian",),
        deltas=(1.0, 0.0),
        n_grid=(1000,),
        replicates=1,
        solver=SweepConfig(em_max_iter=300),
    ),
    "prompts": StressConfig(
        nu0=(0.01,),
        families=("gaussian", "student_t"),
        deltas=(0.3, 0.0),
        n_grid=(2000,),
        prompt_families=FAMILIES,
        prompts=(1, 2),
        replicates=1,
        solver=SweepConfig(em_max_iter=500),
    ),
}


def report(ds) -> str:
    """The tables of a stress run, as text."""
    fmt = {"float_format": lambda v: f"{v:.3g}"}
    table = cell_table(ds)
    below = table[table["below_truth"] > 0][["setting", "n", "replicate", "solver", "below", "stop_reason"]]
    parts = [
        "per solver\n" + stress_summary(ds).to_string(**fmt),
        "per solver and n\n" + stress_summary(ds, by=["n"]).to_string(**fmt),
        "per solver, gate and family\n" + stress_summary(ds, by=["gate", "family"]).to_string(**fmt),
        "per solver, prompts K and their family\n" + stress_summary(ds, by=["prompts", "prompt"]).to_string(**fmt),
        "stop reasons\n" + pd.crosstab(table["solver"], table["stop_reason"]).to_string(),
        "fits below the truth\n" + (below.to_string(index=False, **fmt) if len(below) else "none"),
    ]
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="Gaussian f0, 2 gates x Delta 1, 0, n = 1000, EM <= 300")
    group.add_argument("--large", action="store_true", help="the n = 1e6 slice (EM left out above n = 1e5)")
    group.add_argument("--prompts", action="store_true", help="K = 1, 2 prompts of each family, nu0 = 0.01, n = 2000")
    parser.add_argument("--replicates", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the cells' data and starts")
    parser.add_argument("--out", default=None, help="output directory (default results/solver-stress[-preset])")
    parser.add_argument("--no-progress", action="store_true")

    def run() -> None:
        args = parser.parse_args(argv)
        name = next((preset for preset in ("quick", "large", "prompts") if getattr(args, preset)), "full")
        config = PRESETS[name]
        if args.replicates is not None:
            config = replace(config, replicates=args.replicates)
        config = replace(config, solver=replace(config.solver, seed=args.seed))
        out = require_writable(args.out or ("results/solver-stress" + ("" if name == "full" else f"-{name}")))
        start = time.perf_counter()
        ds = run_stress(config, out / "stress.nc", progress=not args.no_progress)
        text = report(ds)
        atomic_write(out / "summary.txt", lambda tmp: tmp.write_text(text + "\n"))
        print(text)
        print(
            f"\n{int(ds['done'].sum())} cells, {time.perf_counter() - start:.0f} s; wrote {out}/stress.nc, summary.txt"
        )

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
