"""P2's (b-i) with Student-t(5) experts: a Student-t prompt merging into a Student-t pre-trained expert.

    p(y | x) = (1 - w(x)) t_5(y | tanh(eta0.x), nu0) + w(x) t_5(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001 (nu is the variance: the t scale is
sqrt(nu (df - 2) / df)); truth beta* = 1_8 / sqrt(8), tau* = 1, eta* = e1 (1 + n^-1/8), nu* = 0.001:
Delta* = n^-1/8. The prompt is of f0's family and structure, so it is not distinguishable
(docs/guide.md: *The prompt's family*): the analogue of P2's Gaussian (b-i), for which P2 proves
exp(tau) at n^-1/4 and (beta, eta, nu) at n^-3/8. No rate is proved for a Student-t prompt. The
prompt slope is named a. The script prints Delta* and the MLE's errors per group, the slope's
split into its part along the merging direction e1 (a_merge) and the rest (a_perp).

    python models/p2_merging_eta_t5.py --n 2000
"""

from __future__ import annotations

import argparse

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.results.datatree import params_of
from bayescmoe.studies.losses import delta_star, group_errors, merge_direction
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p2-merging-eta-t5")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    truth = params_of(dt, "truth")
    errors = group_errors(SETTING.spec, params_of(dt, "mle"), truth, merge_direction(SETTING.truth))
    listed = ", ".join(f"{k} {v:.3g}" for k, v in errors.items())
    report_run(dt, SETTING.name, args, note=f"Delta* = {delta_star(SETTING.spec, truth):.3g}; MLE errors: {listed}")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
