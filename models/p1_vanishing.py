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

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-vanishing")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    lam = float(dt["truth"]["lam"])
    report = bayescmoe.collapse_report(dt)
    expected = f"{args.n * lam:.0f} of the {args.n} points are expected from the prompt"
    report_run(dt, SETTING.name, args, note=f"{expected}; collapse report: {report.verdict} ({report.reason})")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
