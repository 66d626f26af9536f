"""One real prompt fitted with two: what the posterior does with the prompt the data do not need.

    p(y | x) = (1 - lam[0] - lam[1]) N(y | a0.x + b0, nu0) + sum_k lam[k] N(y | a[k].x + b[k], nu[k])

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1. The data have one prompt (lam* = 0.3,
a* = -e1 + e2, b* = 0.5, nu* = 0.1); the truth in the K = 2 model is lam* = (0.3, 0), and with weight 0
the second prompt's other parameters are not identified (the registry sets them to the first's). Under
the Dirichlet(1, 1, 1) prior the extra prompt either empties (its weight goes to 0) or duplicates the
real one, depending on the prior's concentration (docs/prompts.md). The script
prints the posterior median of the smaller weight and the two MLEs' log-likelihoods (K = 2 against K = 1).

    python models/p1_one_prompt_k2.py --n 2000 --num-samples 500
"""

from __future__ import annotations

import argparse

import numpy as np

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.results.datatree import data_of
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-one-prompt-k2")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    one = bayescmoe.fit_mle(SETTING.spec.with_prompts(1), *data_of(dt), key=args.seed)
    gain = float(dt["mle"].attrs["log_likelihood"]) - one.log_likelihood
    note = f"log-likelihood gain of two prompts' MLE over one prompt's: {gain:+.2f}"
    if "posterior" in dt.children:
        smaller = np.min(dt["posterior"]["lam"].values, axis=-1)
        median, upper = np.quantile(smaller, [0.5, 0.9])
        note += f"\nposterior of the smaller weight: median {median:.3g}, 90% below {upper:.3g}"
    report_run(dt, SETTING.name, args, note=note)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
