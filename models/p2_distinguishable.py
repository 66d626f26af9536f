"""P2 (a), distinguishable: Laplace pre-trained expert, softmax (sigmoid) gate, tanh experts.

    p(y | x) = (1 - w(x)) Laplace(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

The paper's experiment (section 5): d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001 (a variance:
Laplace scale sqrt(nu0 / 2)); truth beta* = 1_8 / sqrt(8), tau* = 1, eta* = -e1, nu* = 0.001.
The prompt has no inner bias (P2's strong identifiability). Laplace f0 is distinguishable from
the Gaussian prompt, so every parameter converges at n^-1/2 (P2, Theorem 2); reported slopes
-0.45 (beta), -0.52 (exp tau), -0.50 (eta), -0.54 (nu). Prompt parameters are named (a, nu).
The script prints the MLE's errors in the groups whose slopes the rate experiment fits.

    python models/p2_distinguishable.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, fit, params_of, simulate
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.studies.losses import group_errors

NAME = "p2-distinguishable"
D = 8
E1 = np.eye(D)[0]

# Frozen Laplace(y | tanh(e1.x), variance 0.001); the prompt N(y | tanh(a.x), nu) without bias;
# the gate sigmoid(beta.x + tau), the softmax over the two experts with the frozen logit at 0.
SPEC = ModelSpec(
    frozen=FrozenExpert(family="laplace", mean="tanh", weight=tuple(E1), bias=None, nu=0.001),
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
    """beta* = 1_8 / sqrt(8), tau* = 1, eta* = -e1, nu* = 0.001 at every n."""
    return {"beta": np.full(D, D**-0.5), "tau": 1.0, "a": -E1, "nu": 0.001}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    errors = group_errors(SPEC, params_of(dt, "mle"), true)
    report_run(dt, NAME, args, note="MLE errors: " + ", ".join(f"{k} {v:.3g}" for k, v in errors.items()))


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
