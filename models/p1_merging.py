"""P1, not distinguishable: a merging prompt (Gaussian f0, both experts linear).

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.4 and
(a*, b*, nu*) = (a0, b0, nu0) + n^-1/8 (e2, 1, 0.1), so Delta* ~ n^-1/8 -> 0.

The heat equation d^2 N / d b^2 = 2 dN / d nu couples bias and variance; at the merge lam is not
identified. Theory (P1): lam at n^-1/2 / Delta*^2 = n^-1/4, the prompt at n^-1/2/(lam* Delta*) =
n^-3/8. Look at the pair plot: lam against (b, nu) shows the ridge, and the MLE s.e. of lam is much
larger than in p1_family at the same n. The script prints the posterior of lam and Delta next to
that of lam Delta and lam Delta^2, which the data pin down far better (bayescmoe.diagnostics.geometry).

    python models/p1_merging.py --n 2000
"""

from __future__ import annotations

import argparse

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.diagnostics import geometry_table
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-merging")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    table = geometry_table(dt).loc[["lam", "delta", "lam_delta", "lam_delta2"], ["truth", "median", "rel_sd"]]
    report_run(dt, SETTING.name, args, note=f"relative posterior sd of the factors and of the combinations\n{table}")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
