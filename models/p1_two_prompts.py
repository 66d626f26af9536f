"""Two prompts beside a Gaussian pre-trained expert, each distinguishable from it and from the other.

    p(y | x) = (1 - lam[0] - lam[1]) N(y | a0.x + b0, nu0) + sum_k lam[k] N(y | a[k].x + b[k], nu[k])

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = (0.3, 0.2), prompt 0:
a* = -e1 + e2, b* = 0.5, nu* = 0.1; prompt 1: a* = e1 + e2, b* = -1, nu* = 0.05. The weights lie on
the simplex (the frozen expert's is 1 - their sum) under a Dirichlet(1, 1, 1) prior
(docs/prompts.md). The papers study one prompt; no rate is proved for two. The
script prints how much the two prompts' MLE gains in log-likelihood over one prompt's, on the same data.

    python models/p1_two_prompts.py --n 2000 --num-samples 500
"""

from __future__ import annotations

import argparse

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.results.datatree import data_of
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-two-prompts")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    one = bayescmoe.fit_mle(SETTING.spec.with_prompts(1), *data_of(dt), key=args.seed)
    gain = float(dt["mle"].attrs["log_likelihood"]) - one.log_likelihood
    report_run(dt, SETTING.name, args, note=f"log-likelihood gain of two prompts' MLE over one prompt's: {gain:+.1f}")


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
