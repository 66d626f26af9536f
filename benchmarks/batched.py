"""The batched paths an accelerator would use, against the unbatched ones, on JAX's default backend.

    python benchmarks/batched.py                    # p2-distinguishable, n = 2000, 16 replicates
    python benchmarks/batched.py --replicates 64 --n 10000

- MLE: :func:`~bayescmoe.inference.optimize.batched_lbfgs_solve` (one vmapped program over the
  replicates at one padded size) against a loop of :func:`~bayescmoe.inference.optimize.lbfgs_solve`.
- NUTS: 4 chains ``chain_method="vectorized"`` (vmapped on one device) against ``"parallel"``
  (spread over the devices by ``shard_map``).
Both are compiled before timing (median of ``--reps``). On a CPU the unbatched paths are expected to
win (the batch's line searches and trees run in lockstep); the script says which backend it ran on.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

import bayescmoe as bc
from bayescmoe.inference.optimize import batched_lbfgs_solve, lbfgs_solve
from bayescmoe.studies.sweep import SweepConfig, simulate_cell


def median_seconds(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of ``fn`` over ``reps`` calls, after one untimed (compiling) call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", default="p2-distinguishable")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--replicates", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    setting = bc.get_setting(args.setting)
    cells = [simulate_cell(setting, args.n, r, SweepConfig()) for r in range(args.replicates)]
    spec = cells[0].spec
    starts = jax.tree.map(lambda *v: jnp.stack(v), *(c.starts[0] for c in cells))
    data = [jnp.stack([getattr(c, f) for c in cells]) for f in ("x", "y", "mask")]

    def loop() -> list:
        return [lbfgs_solve(c.starts[0], spec, c.x, c.y, c.mask, 1000, 1e-6).objective for c in cells]

    def batch() -> jax.Array:
        return batched_lbfgs_solve(starts, spec, *data, 1000, 1e-6).objective

    x, y = cells[0].x[: args.n], cells[0].y[: args.n]
    nuts = {
        method: (lambda m=method: bc.fit_nuts(spec, x, y, key=0, chain_method=m).samples["nu"])
        for method in ("parallel", "vectorized")
    }
    print(f"backend: {jax.default_backend()} ({jax.device_count()} devices)")
    print("| path | unbatched (s) | batched (s) | unbatched / batched |\n|---|---|---|---|")
    t_loop, t_batch = median_seconds(loop, args.reps), median_seconds(batch, args.reps)
    label = f"MLE, {args.replicates} replicates, n = {args.n}"
    print(f"| {label} | {t_loop:.3f} | {t_batch:.3f} | {t_loop / t_batch:.2f} |")
    t_par, t_vec = (median_seconds(nuts[m], args.reps) for m in ("parallel", "vectorized"))
    print(f"| NUTS, 4 chains x (500 + 500), n = {args.n} | {t_par:.3f} | {t_vec:.3f} | {t_par / t_vec:.2f} |")


if __name__ == "__main__":
    bc.configure()  # virtual CPU devices for parallel chains, the compilation cache
    main()
