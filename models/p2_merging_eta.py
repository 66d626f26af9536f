"""P2 (b-i), not distinguishable: Gaussian pre-trained expert, prompt slope merging into it.

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1,
eta* = e1 (1 + n^-1/8), nu* = 0.001: Delta* = n^-1/8. Theory (P2): exp(tau) at
n^-1/2 / Delta*^2 = n^-1/4, (beta, eta, nu) at n^-1/2 / Delta* = n^-3/8; the paper reports
slopes -0.37, -0.23, -0.39, -0.35. The prompt slope is named a. The slowed rates are uniform
bounds: they bite once the two means are close against the noise. The script prints that gap,
rms(tanh(eta*.x) - tanh(eta0.x)) / sqrt(nu0): 2 to 3.5 noise sd for n in 1e3..1e5.

    python models/p2_merging_eta.py --n 2000
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
SETTING = bayescmoe.get_setting("p2-merging-eta")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    gap = mean_gap(SETTING.spec, {k: jnp.asarray(v) for k, v in params_of(dt, "truth").items()}, data_of(dt)[0])
    note = f"gap between the true prompt's mean and the frozen one: {float(gap):.2f} noise sd"
    report_run(dt, SETTING.name, args, note=note)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
