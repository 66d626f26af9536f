"""P1, distinguishable by structure: Gaussian linear pre-trained expert, sigmoid prompt.

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | sigmoid(a.x + b), nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.3, a* = 2 e2, b* = 0,
nu* = 0.1. Both experts are Gaussian, but a sigmoid prompt can never reproduce a linear mean, so
the prompt cannot merge into the frozen expert (P1): parametric n^-1/2 rates as in p1_family.
The script prints how far the fitted prompt's mean lies from the frozen one, in noise sd.

    python models/p1_structure.py --n 2000
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.model.likelihood import mean_gap
from bayescmoe.results.datatree import data_of, params_of
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("p1-structure")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    mle = {k: jnp.asarray(v) for k, v in params_of(dt, "mle").items()}
    gap = mean_gap(SETTING.spec, mle, data_of(dt)[0])
    note = f"rms of sigmoid(a.x + b) - a0.x at the MLE: {float(gap):.2f} noise sd (never 0)"
    report_run(dt, SETTING.name, args, note=note)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
