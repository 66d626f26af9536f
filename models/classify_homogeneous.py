"""Classification, homogeneous adapter: a multinomial logistic classifier contaminated by a linear adapter.

    p(y | x) = (1 - w(x)) p0(y | x) + w(x) softmax(eta(x))_y,   y in {0, 1, 2}

p0 = softmax(W x + c) with W = ((0, 0), (1.5, -1), (-0.5, 1.2)), c = (0, 0.3, -0.2) (frozen, known); the
adapter's logits eta_0 = 0 (class 0 is the reference), eta_c = a_c.x + b_c for c = 1, 2; the gate
w(x) = sigmoid(beta.x + tau). d = 2, X ~ N(0, I_2); truth beta* = (1, -0.5), tau* = -0.4,
a* = ((-1, 2), (2, 0.5)), b* = (0.5, -1).

The adapter has the frozen classifier's structure, so it can equal p0 (at a = W[1:] - W[0],
b = c[1:] - c[0], printed below): the homogeneous case, not distinguishable. Here the truth lies away
from p0, so the gate and the adapter are identified; a truth approaching p0 with n slows them down.

    python models/classify_homogeneous.py --n 2000 --num-samples 500
"""

from __future__ import annotations

import argparse

import bayescmoe
from bayescmoe.cli import fit_options, report_run, run_script
from bayescmoe.workflow import run_setting

#: the one definition of this model (spec, truth at each n, default size) is the registry's
SETTING = bayescmoe.get_setting("classify-homogeneous")


def main(args: argparse.Namespace) -> None:
    dt = run_setting(SETTING, n=args.n, seed=args.seed, **fit_options(args))
    a0, b0 = (SETTING.spec.frozen.params()[k].tolist() for k in ("a", "b"))
    note = f"the frozen classifier as an adapter (where the adapter merges into it): a0 = {a0}, b0 = {b0}"
    report_run(dt, SETTING.name, args, note=note)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(run_script(main, __doc__, n=SETTING.n))
