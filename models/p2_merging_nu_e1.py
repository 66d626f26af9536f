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

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p2-merging-nu-e1")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    report_run(dt, SETTING.name, args, note=bayescmoe.collapse_report(dt).render(parameters=False))


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
