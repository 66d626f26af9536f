"""A Laplace prompt against a Gaussian pre-trained expert: distinguishable by the prompt's family.

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam Laplace(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.3, a* = -e1 + e2, b* = 0.5,
nu* = 0.1 (nu is the prompt's variance: its Laplace scale is sqrt(nu / 2)). P1's p1-family cell with
the families swapped: the frozen expert is Gaussian, the prompt Laplace, so the prompt can never
equal f0 (docs/guide.md: *The prompt's family*). The papers prove their rates for a Gaussian prompt
only; no rate is proved for this cell. The script prints how much the Laplace prompt's MLE gains in
log-likelihood over the MLE of the same model with a Gaussian prompt, on the same data.

    python models/p1_laplace_prompt.py --n 2000 --num-samples 500
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.results.datatree import data_of
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-laplace-prompt")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    gaussian = replace(SETTING.spec, prompt=replace(SETTING.spec.prompt, family="gaussian"))
    other = bayescmoe.fit_mle(gaussian, *data_of(dt), key=args.seed)
    gain = float(dt["mle"].attrs["log_likelihood"]) - other.log_likelihood
    report_run(
        dt, SETTING.name, args, note=f"log-likelihood gain of the Laplace prompt's MLE over a Gaussian's: {gain:+.1f}"
    )


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
