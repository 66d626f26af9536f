"""P1, a vanishing prompt: the p1_family cell with lam*_n = 0.5 n^-1/4.

    p(y | x) = (1 - lam) t_5(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); as p1_family but lam*_n = 0.5 n^-1/4 (0.075 at n = 2000). The prompt is
distinguishable, yet only about n lam* points come from it: lam at n^-1/2, the prompt at
n^-1/2 / lam* = n^-1/4 (P1). Expect wide posteriors for (a, b, nu) and lam's mass near 0; the
script prints n lam* and the collapse report's verdict.

    python models/p1_vanishing.py --n 2000
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import bayescmoe
from bayescmoe import FrozenExpert, ModelSpec, Prior, PromptExpert, collapse_report, fit, simulate
from bayescmoe.cli import fit_options, report_run, run_script

NAME = "p1-vanishing"
E1, E2 = np.eye(8)[:2]

# p1_family's model: frozen t_5(y | e1.x + 0, 0.1), a linear Gaussian prompt, a constant gate.
SPEC = ModelSpec(
    frozen=FrozenExpert(family="student_t", df=5.0, mean="linear", weight=tuple(E1), bias=0.0, nu=0.1),
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
    """p1_family's prompt with the weight lam*_n = 0.5 n^-1/4: it vanishes as n grows."""
    lam = 0.5 * n ** (-1 / 4)
    return {"lam": lam, "a": E2 - E1, "b": 0.5, "nu": 0.1}


def main(args: argparse.Namespace) -> None:
    true = truth(args.n)
    k_data, k_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    x, y = simulate(k_data, SPEC, true, args.n)
    dt = fit(SPEC, x, y, key=k_fit, truth=true, methods=("mle", "map", "nuts"), **fit_options(args))
    report = collapse_report(dt)
    expected = f"{args.n * true['lam']:.0f} of the {args.n} points are expected from the prompt"
    report_run(dt, NAME, args, note=f"{expected}; collapse report: {report.verdict} ({report.reason})")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__))
