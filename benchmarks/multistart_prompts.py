"""How often does multi-start L-BFGS find the best maximum of a two-prompt likelihood?

Nine K = 2 models (d = 2 or 8; constant and softmax gates; Gaussian and Student-t(4) prompts on either side
of f0, on one side, small, or near each other), each on ``--datasets`` simulated data sets of n = ``--n``.
On each data set every start is fitted by :func:`bayescmoe.inference.optimize.lbfgs_solve`: the truth,
``--random`` random starts and the :func:`~bayescmoe.inference.optimize.spread_starts`. The best maximum is
the highest log-likelihood of them all; a strategy finds it when its best fit is within 1e-3 of it.
Reported per model: the share of data sets on which each strategy found it (``random4`` is the first 4
random starts, fit_mle's default with the spread starts: ``random4+spread``), the share of single random
starts that did, and the seconds per data set (all starts, the first data set's compilation included).

    python benchmarks/multistart_prompts.py                 # 9 models x 40 data sets, n = 2000 (about 5 min)
    python benchmarks/multistart_prompts.py --quick         # 2 models x 3 data sets
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import bayescmoe
from bayescmoe.inference.optimize import lbfgs_solve, random_starts, spread_starts
from bayescmoe.model.params import unconstrain
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert

F2 = FrozenExpert(weight=(1.0, -0.5), bias=0.0, nu=0.25)
F8 = FrozenExpert(weight=tuple(np.resize([1.0, -0.5, 0.25], 8)), bias=0.0, nu=0.25)
G, T = PromptExpert(), PromptExpert(family="student_t", df=4.0)
A2 = [[0.5, 1.0], [-1.0, 0.2]]
A8 = np.stack([np.resize([0.5, 1.0, -0.3, 0.2], 8), np.resize([-1.0, 0.2, 0.4], 8)])
B2 = [[0.8, -0.5], [-0.3, 0.6]]
B8 = 0.5 * np.stack([np.resize([1.0, 0.0, -1.0], 8), np.resize([0.0, 1.0, 0.5, -0.5], 8)])
#: name: (frozen, prompts, gate, truth)
MODELS = {
    "constant-apart": (F2, [G, T], "constant", {"lam": [0.3, 0.25], "a": A2, "b": [2.0, -2.0], "nu": [0.3, 0.5]}),
    "softmax-apart": (
        F2,
        [G, T],
        "softmax",
        {"beta": B2, "tau": [-0.2, -0.4], "a": A2, "b": [2, -2], "nu": [0.3, 0.5]},
    ),
    "constant-near": (
        F2,
        [G, G],
        "constant",
        {"lam": [0.25, 0.25], "a": [[1.0, -0.5], [0.5, 0.0]], "b": [1.0, -0.5], "nu": [0.25, 0.5]},
    ),
    "softmax-near": (
        F2,
        [G, G],
        "softmax",
        {"beta": [[1, 0], [0, -1]], "tau": [-0.5, -0.5], "a": [[1, -0.5], [0.5, 0]], "b": [1, -0.5], "nu": [0.25, 0.5]},
    ),
    "constant-one-side": (F2, [G, T], "constant", {"lam": [0.2, 0.15], "a": A2, "b": [1.5, 3.0], "nu": [0.3, 0.5]}),
    "constant-small": (F2, [G, T], "constant", {"lam": [0.1, 0.05], "a": A2, "b": [1.5, -2.0], "nu": [0.3, 0.5]}),
    "softmax-one-side": (
        F2,
        [T, G],
        "softmax",
        {"beta": B2, "tau": [-1, -1.5], "a": A2, "b": [1, 2.5], "nu": [0.3, 0.2]},
    ),
    "constant-d8": (F8, [G, G], "constant", {"lam": [0.25, 0.2], "a": A8, "b": [1.0, -1.0], "nu": [0.25, 0.5]}),
    "softmax-d8": (F8, [G, T], "softmax", {"beta": B8, "tau": [-0.5, -0.5], "a": A8, "b": [1, -1], "nu": [0.25, 0.5]}),
}
#: a strategy finds the best maximum when its best log-likelihood is within this of it
FOUND = 1e-3


def data_set(name: str, n: int, num_random: int, seed: int) -> dict[str, object]:
    """Fit every start on one simulated data set; the log-likelihood each start ends at, by kind."""
    frozen, prompts, gate, truth = MODELS[name]
    spec = ModelSpec(frozen, prompts, gate, "flat")
    truth = {k: np.asarray(v, dtype=float) for k, v in truth.items()}
    k_data, k_start = jax.random.split(jax.random.PRNGKey(seed))
    x, y = simulate(k_data, spec, truth, n)
    mask = jnp.ones(n)

    def ends(starts: list) -> list[float]:
        return [-n * float(lbfgs_solve(u, spec, x, y, mask, 1000, 1e-6).objective) for u in starts]

    start = time.perf_counter()
    out = {
        "truth": ends([unconstrain(spec, truth)]),
        "random": ends(random_starts(k_start, spec, y, num_random)),
        "spread": ends(spread_starts(spec, x, y)),
    }
    return {**out, "seconds": time.perf_counter() - start}


def summary(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Per model: the share of data sets on which each strategy found the best maximum."""
    records = []
    for row in rows:
        best = max(max(v) for v in (row["truth"], row["random"], row["spread"]))

        def found(values: list[float], best: float = best) -> bool:
            return max(values, default=-np.inf) >= best - FOUND

        records.append(
            {
                "model": row["model"],
                "random4": found(row["random"][:4]),
                "random": found(row["random"]),
                "spread": found(row["spread"]),
                "random4+spread": found(row["random"][:4] + row["spread"]),
                "truth": found(row["truth"]),
                "one random start": np.mean([v >= best - FOUND for v in row["random"]]),
                "seconds": row["seconds"],
            }
        )
    return pd.DataFrame(records).groupby("model", sort=False).mean()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--random", type=int, default=8, help="random starts per data set (at least 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 models x 3 data sets")
    args = parser.parse_args(argv)
    models = ["constant-apart", "softmax-one-side"] if args.quick else list(MODELS)
    datasets = 3 if args.quick else args.datasets
    rows = [
        {"model": name, **data_set(name, args.n, max(args.random, 4), args.seed + i)}
        for name in models
        for i in range(datasets)
    ]
    table = summary(rows)
    print(f"share of data sets (n = {args.n}) on which each strategy found the best maximum\n")
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    found = table["random4+spread"].to_numpy()
    print(f"\nfit_mle's default starts (4 random + spread) found it on {found.mean():.1%} of the data sets")
    return 0


if __name__ == "__main__":
    bayescmoe.configure()
    raise SystemExit(main())
