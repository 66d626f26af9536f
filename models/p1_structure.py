"""P1, distinguishable by structure: Gaussian linear pre-trained expert, sigmoid prompt.

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | sigmoid(a.x + b), nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.3, a* = 2 e2, b* = 0,
nu* = 0.1. Both experts are Gaussian, but a sigmoid prompt can never reproduce a linear mean, so
the prompt cannot merge into the frozen expert (P1): parametric n^-1/2 rates as in p1_family.
The script prints how far the fitted prompt's mean lies from the frozen one, in noise sd.

    python models/p1_structure.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, fit, params_of, simulate
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.model.likelihood import frozen_mean, prompt_mean

NAME = "p1-structure"
E1, E2 = np.eye(8)[:2]

# Frozen expert N(y | e1.x + 0, 0.1); the prompt N(y | sigmoid(a.x + b), nu); a constant gate.
SPEC = ModelSpec(
    frozen=FrozenExpert(family="gaussian", mean="linear", weight=tuple(E1), bias=0.0, nu=0.1),
    prompt=PromptExpert(mean="sigmoid", bias=True),
    gate="constant",
    priors={
        "lam": Prior("beta", (1.0, 1.0)),
        "a": Prior("normal", (0.0, 3.0)),
        "b": Prior("normal", (0.0, 3.0)),
        "nu": Prior("inversegamma", (2.0, 0.1)),
    },
)


def truth(n: int) -> dict[str, np.ndarray | float]:
    """lam* = 0.3 and the prompt sigmoid(2 x_2) at every n."""
    return {"lam": 0.3, "a": 2.0 * E2, "b": 0.0, "nu": 0.1}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    mle = {k: jnp.asarray(v) for k, v in params_of(dt, "mle").items()}
    gap = jnp.sqrt(jnp.mean((prompt_mean(SPEC, mle, x) - frozen_mean(SPEC, x)) ** 2) / SPEC.frozen.nu)
    report_run(dt, NAME, args, note=f"rms of sigmoid(a.x + b) - a0.x at the MLE: {float(gap):.2f} noise sd (never 0)")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
