"""P2 (b-ii) with eta* = e1: the prompt variance merging into the Gaussian pre-trained expert.

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1, eta* = e1,
nu* = 0.001 (1 + n^-1/8): Delta* = 0.001 n^-1/8 -> 0. This is our reading of P2's (b-ii) (probably
a typo for eta* = e1): the prompt merges, and the theory gives exp(tau) at n^-1/4 and
(beta, eta, nu) at n^-3/8. At n = 2000 the gate is not identified; the script prints the
collapse report (bayescmoe collapse), which calls it a merge.

    python models/p2_merging_nu_e1.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, collapse_report, fit, simulate
from bayescmoe.cli import fit_options, report_run, run_script

NAME = "p2-merging-nu-e1"
D = 8
E1 = np.eye(D)[0]

# Frozen N(y | tanh(e1.x), 0.001) and the prompt N(y | tanh(a.x), nu): the same structure.
SPEC = ModelSpec(
    frozen=FrozenExpert(family="gaussian", mean="tanh", weight=tuple(E1), bias=None, nu=0.001),
    prompt=PromptExpert(mean="tanh", bias=False),
    gate="sigmoid",
    priors={
        "beta": Prior("normal", (0.0, 3.0)),
        "tau": Prior("normal", (0.0, 3.0)),
        "a": Prior("normal", (0.0, 3.0)),
        "nu": Prior("inversegamma", (2.0, 0.001)),
    },
)


def truth(n: int) -> dict[str, np.ndarray | float]:
    """P2's gate and the frozen expert's slope, with nu* = 0.001 + 0.001 n^-1/8 -> nu0."""
    return {"beta": np.full(D, D**-0.5), "tau": 1.0, "a": E1, "nu": 0.001 + 0.001 * n ** (-1 / 8)}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    report_run(dt, NAME, args, note=collapse_report(dt).render(parameters=False))


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
