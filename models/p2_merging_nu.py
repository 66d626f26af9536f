"""P2 (b-ii) as written: Gaussian pre-trained expert, prompt eta* = -e1, nu* = 0.001 (1 + n^-1/8).

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1,
eta* = -e1, nu* = 0.001 (1 + n^-1/8). As written the prompt stays about Delta* = 2 away from the
frozen expert (eta* = -e1 vs eta0 = e1), so the theory predicts n^-1/2 for everything, although
the paper reports slowed slopes; see p2_merging_nu_e1.py for the merging reading. The script
prints Delta*.

    python models/p2_merging_nu.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, fit, simulate
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.studies.losses import delta_star

NAME = "p2-merging-nu"
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
    """P2's gate, eta* = -e1 (opposite to eta0) and nu* = 0.001 (1 + n^-1/8)."""
    nu = 0.001 + 0.001 * n ** (-1 / 8)
    return {"beta": np.full(D, D**-0.5), "tau": 1.0, "a": -E1, "nu": nu}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    print(f"Delta* = {delta_star(SPEC, true):.3f}: the prompt does not approach the frozen expert")
    report_run(dt, NAME, args)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
