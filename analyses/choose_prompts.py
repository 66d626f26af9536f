"""How many prompts? How often PSIS-LOO, WBIC, the learning coefficient and the evidence pick the true K.

A Gaussian frozen expert N(x1 - 0.5 x2, 0.25) in d = 2 and Gaussian prompts N(a.x + b, 0.1): data with
no prompt (k0), one (k1: lam* = 0.3, a* = (0.5, 0.5), b* = 1), two distinct prompts (k2-distinct: a
second with lam* = 0.2, a* = (-1, 0.5), b* = -1) or two nearly merged ones (k2-close: the second at
b* = 1.5, 1.6 noise sds from the first). Each (setting, n, replicate): simulate n pairs and run
bayescmoe.choose_prompts over K = 0..3 (MAP and NUTS per K, then a power posterior for WBIC and a
localised one for the learning coefficient; --evidence adds the stepping-stone ladder, ~33 runs per K).

    python analyses/choose_prompts.py                 # 4 settings x n = 300, 1000 x 5 replicates, 2 x (300 + 300)
    python analyses/choose_prompts.py --quick         # 1 setting x n = 150 x 1 replicate, K <= 2, 2 x (100 + 100)

Resumable: cells are journalled in <out>/choose-prompts.nc; rerunning continues where a killed run
stopped. Prints, per setting and n, the share of replicates in which each criterion picked the true K.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.prompts import CHOICE_DESIGN, DEFAULT_CRITERIA, choice_design, pick_rates, run_prompt_choice

#: (settings, n grid, replicates, K_max, chains) of the full and the quick run
FULL = (tuple(CHOICE_DESIGN), (300, 1000), 5, 3, Chains(300, 300, 2))
QUICK = (("k1",), (150,), 1, 2, Chains(100, 100, 2))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every cell (resuming) and print the pick rates."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 setting x 1 replicate, n = 150, K <= 2")
    parser.add_argument("--replicates", type=int, default=None, help="replicates per cell (default 5)")
    parser.add_argument("--evidence", action="store_true", help="add the stepping-stone evidence (slow)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/choose-prompts")

    def run() -> None:
        args = parse_checked(parser, argv)
        names, n_grid, replicates, max_prompts, chains = QUICK if args.quick else FULL
        settings, fitted = choice_design(names)
        criteria = (*DEFAULT_CRITERIA, "evidence") if args.evidence else DEFAULT_CRITERIA
        out = Path(args.out) / "choose-prompts.nc"
        start = time.perf_counter()
        ds = run_prompt_choice(
            settings,
            fitted,
            n_grid,
            args.replicates or replicates,
            out,
            max_prompts=max_prompts,
            criteria=criteria,
            chains=chains,
            seed=args.seed,
            progress=not args.no_progress,
        )
        true_k = {name: CHOICE_DESIGN[name][0] for name in names}
        print(pick_rates(ds, true_k).to_string(float_format=lambda v: f"{v:.2f}"))
        print(f"{int(ds['done'].sum())} cells, {time.perf_counter() - start:.0f} s in this run; wrote {out}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
