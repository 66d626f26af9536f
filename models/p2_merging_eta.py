"""P2 (b-i), not distinguishable: Gaussian pre-trained expert, prompt slope merging into it.

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1,
eta* = e1 (1 + n^-1/8), nu* = 0.001: Delta* = n^-1/8. Theory (P2): exp(tau) at
n^-1/2 / Delta*^2 = n^-1/4, (beta, eta, nu) at n^-1/2 / Delta* = n^-3/8; the paper reports
slopes -0.37, -0.23, -0.39, -0.35. The prompt slope is named a. The slowed rates are uniform
bounds: they bite once the two means are close against the noise. The script prints that gap,
rms(tanh(eta*.x) - tanh(eta0.x)) / sqrt(nu0): 2 to 3.5 noise sd for n in 1e3..1e5.

    python models/p2_merging_eta.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, fit, simulate
from bayescmoe.cli import fit_options, report_run, run_script

NAME = "p2-merging-eta"
D = 8
E1 = np.eye(D)[0]

# Frozen N(y | tanh(e1.x), 0.001), the same structure as the prompt N(y | tanh(a.x), nu): it can merge.
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
    """P2's gate, the prompt slope eta* = e1 (1 + n^-1/8), nu* = nu0."""
    slope = E1 + n ** (-1 / 8) * E1
    return {"beta": np.full(D, D**-0.5), "tau": 1.0, "a": slope, "nu": 0.001}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    x1 = np.asarray(x)[:, 0]
    gap = np.sqrt(np.mean((np.tanh(true["a"][0] * x1) - np.tanh(x1)) ** 2) / SPEC.frozen.nu)
    report_run(dt, NAME, args, note=f"gap between the true prompt's mean and the frozen one: {gap:.2f} noise sd")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
