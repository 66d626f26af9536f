"""P1, distinguishable by family: a Student-t pre-trained expert contaminated by a Gaussian prompt.

    p(y | x) = (1 - lam) t_5(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1 (nu is the variance: the t scale is
sqrt(nu0 (df - 2) / df)); truth lam* = 0.3, a* = -e1 + e2, b* = 0.5, nu* = 0.1.

A Student-t f0 is never a combination of Gaussian densities and their derivatives, so the prompt is
distinguishable (P1, P2 Definition 1): |lam_hat - lam*| ~ n^-1/2 and the prompt at n^-1/2 / lam*.
Expect R-hat near 1, a posterior mean within a few s.e. of the MLE, and MLE s.e. ~ posterior sd;
the script prints sqrt(n) x s.e., which stays put as n grows (rerun with --n 8000).

    python models/p1_family.py --n 2000 --num-samples 500
"""

from __future__ import annotations

import argparse

import numpy as np

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.results.tables import flatten
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-family")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    se = flatten(dt["mle"]["se"].to_dataset(), SETTING.spec.param_names)
    scaled = ", ".join(f"{label} {np.sqrt(args.n) * value:.3g}" for label, value in se.items())
    report_run(dt, SETTING.name, args, note=f"sqrt(n) x MLE s.e. (stays put as n grows: the n^-1/2 rate): {scaled}")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
