"""P1, not distinguishable: a merging prompt (Gaussian f0, both experts linear).

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.4 and
(a*, b*, nu*) = (a0, b0, nu0) + n^-1/8 (e2, 1, 0.1), so Delta* ~ n^-1/8 -> 0.

The heat equation d^2 N / d b^2 = 2 dN / d nu couples bias and variance; at the merge lam is not
identified. Theory (P1): lam at n^-1/2 / Delta*^2 = n^-1/4, the prompt at n^-1/2/(lam* Delta*) =
n^-3/8. Look at the pair plot: lam against (b, nu) shows the ridge, and the MLE s.e. of lam is much
larger than in p1_family at the same n. The script prints the posterior of lam and Delta next to
that of lam Delta and lam Delta^2, which the data pin down far better (bayescmoe.diagnostics.geometry).

    python models/p1_merging.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, fit, simulate
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.diagnostics import geometry_table

NAME = "p1-merging"
E1, E2 = np.eye(8)[:2]

# Frozen expert N(y | e1.x + 0, 0.1); the prompt N(y | a.x + b, nu) has the same structure.
SPEC = ModelSpec(
    frozen=FrozenExpert(family="gaussian", mean="linear", weight=tuple(E1), bias=0.0, nu=0.1),
    prompt=PromptExpert(mean="linear", bias=True),
    gate="constant",
    priors={
        "lam": Prior("beta", (1.0, 1.0)),
        "a": Prior("normal", (0.0, 3.0)),
        "b": Prior("normal", (0.0, 3.0)),
        "nu": Prior("inversegamma", (2.0, 0.1)),
    },
)


def truth(n: int) -> dict[str, np.ndarray | float]:
    """lam* = 0.4; the prompt is the frozen expert moved by n^-1/8 (e2, 1, 0.1): it merges as n grows."""
    step = n ** (-1 / 8)
    return {"lam": 0.4, "a": E1 + step * E2, "b": step, "nu": 0.1 + 0.1 * step}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    table = geometry_table(dt).loc[["lam", "delta", "lam_delta", "lam_delta2"], ["truth", "median", "rel_sd"]]
    report_run(dt, NAME, args, note=f"relative posterior sd of the factors and of the combinations\n{table}")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
