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

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.results.datatree import params_of
from bayescmoe.studies.losses import group_errors
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p2-distinguishable")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    errors = group_errors(SETTING.spec, params_of(dt, "mle"), params_of(dt, "truth"))
    report_run(dt, SETTING.name, args, note="MLE errors: " + ", ".join(f"{k} {v:.3g}" for k, v in errors.items()))


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
