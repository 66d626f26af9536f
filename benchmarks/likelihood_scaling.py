"""Cost of one log-likelihood + gradient against one pass over the data, n = 1e3 .. 1e6 (README table).

    python benchmarks/likelihood_scaling.py                       # p1-family and p2-distinguishable
    python benchmarks/likelihood_scaling.py --settings p1-family --sizes 1000,1000000 --reps 5

For each n, interleaved over ``--reps`` rounds (median reported):
- *pass*: one jitted ``sum(x) + sum(y)``, the time to stream the data once;
- *ours*: what the fits use, the L-BFGS objective's value and gradient with the frozen expert's
  log-density computed once per dataset, in blocks of ``BLOCK_ROWS`` rows above ``BLOCKED_ABOVE``
  (:func:`~bayescmoe.model.likelihood.summed_log_likelihood`);
- *whole*: the same objective differentiated over all rows at once (no blocks);
- *value*: the objective's value alone (blocked like *ours*), what the gradient adds to;
- *site* and *summed* (second table): NUTS's potential energy and its gradient in the
  unconstrained coordinates, NumPyro's sum over the pointwise observation site against the
  model's ``summed`` observation (row blocks above ``BLOCKED_ABOVE``), which ``fit_nuts`` uses there.
All are compiled before timing; each timing is the mean of enough calls to last ~0.2 s.
*cores* is the process's CPU time over wall time while *ours* runs: how many cores XLA's CPU
backend keeps busy (a machine with 2 cores has no idle one to shard the rows onto).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
from numpyro.infer.util import potential_energy

import bayescmoe as bc
from bayescmoe.inference.optimize import objective
from bayescmoe.model.likelihood import frozen_log_density
from bayescmoe.model.numpyro_model import model
from bayescmoe.model.params import unconstrain


def seconds_per_call(fn: Callable[[], object], budget: float = 0.2) -> tuple[float, float]:
    """(mean wall time, CPU time / wall time) of ``fn`` (compiled already) over calls lasting about
    ``budget`` seconds."""
    jax.block_until_ready(fn())
    calls, start, cpu = 0, time.perf_counter(), os.times()
    while (elapsed := time.perf_counter() - start) < budget or calls < 3:
        jax.block_until_ready(fn())
        calls += 1
    end = os.times()
    return elapsed / calls, (end.user - cpu.user + end.system - cpu.system) / elapsed


def contestants(setting: str, n: int) -> dict[str, Callable[[], object]]:
    """The timed functions on one simulated dataset of size n."""
    s = bc.get_setting(setting)
    truth = s.truth.at(s.spec, n)
    x, y = bc.simulate(jax.random.PRNGKey(0), s.spec, truth, n)
    u, mask = unconstrain(s.spec, truth), jnp.ones_like(y)
    log_f0 = frozen_log_density(s.spec, x, y)
    value_and_grad = jax.jit(jax.value_and_grad(objective), static_argnums=(1, 6))
    value = jax.jit(objective, static_argnums=(1, 6))
    one_pass = jax.jit(lambda a, b: jnp.sum(a) + jnp.sum(b))
    args = (s.spec, x, y, log_f0)

    def nuts_potential(summed: bool) -> Callable:
        observed = {"summed": summed}
        return jax.jit(jax.value_and_grad(lambda v: potential_energy(model, args, observed, v)))

    nuts = {summed: nuts_potential(summed) for summed in (False, True)}
    return {
        "pass": lambda: one_pass(x, y),
        "ours": lambda: value_and_grad(u, s.spec, x, y, mask, log_f0),
        "whole": lambda: value_and_grad(u, s.spec, x, y, mask, log_f0, n),
        "value": lambda: value(u, s.spec, x, y, mask, log_f0),
        "site": lambda: nuts[False](u),
        "summed": lambda: nuts[True](u),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="p1-family,p2-distinguishable")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds; the median is reported")
    args = parser.parse_args()
    objective_rows, nuts_rows = [], []
    for setting in args.settings.split(","):
        for n in (int(float(v)) for v in args.sizes.split(",")):
            fns = contestants(setting, n)
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
            for _ in range(args.reps):
                for name, fn in fns.items():
                    runs[name].append(seconds_per_call(fn))
            t = {name: statistics.median(wall for wall, _ in v) * 1e3 for name, v in runs.items()}
            cores = statistics.median(busy for _, busy in runs["ours"])
            objective_rows.append(
                f"| {setting} | {n:.0e} | {t['pass']:.3f} | {t['ours']:.3f} | {t['ours'] / t['pass']:.1f} "
                f"| {t['whole']:.3f} | {t['whole'] / t['ours']:.1f} | {t['value']:.3f} | {t['value'] / t['pass']:.1f} "
                f"| {t['ours'] * 1e6 / n:.0f} | {cores:.1f} |"
            )
            nuts_rows.append(
                f"| {setting} | {n:.0e} | {t['site']:.3f} | {t['summed']:.3f} | {t['site'] / t['summed']:.1f} |"
            )
            print(objective_rows[-1], file=sys.stderr, flush=True)  # progress; the tables go to stdout
    print(
        "| setting | n | one pass (ms) | ours (ms) | ours / pass | whole (ms) | whole / ours | value (ms) "
        "| value / pass | ours, ns per row | cores |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(objective_rows))
    print("\n| setting | n | NUTS potential, pointwise site (ms) | summed (ms) | site / summed |")
    print("|---|---|---|---|---|")
    print("\n".join(nuts_rows))


if __name__ == "__main__":
    bc.configure()  # virtual CPU devices for parallel chains, the compilation cache
    main()
