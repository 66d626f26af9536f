"""Is a prompt needed? The evidence bayescmoe.fit stores, on data with no prompt, a weak one and a moderate one.

Frozen experts Gaussian, Laplace and Student-t(5) (h0(x) = x1 - 0.5 x2, nu0 = 0.25, d = 2); a constant
gate lam or a sigmoid gate sigmoid(beta.x + tau); the prompt N(0.5 x1 + 0.5 x2 + 0.5, 0.1) with a
share of the data of 0 (none: the data come from f0 alone), 0.05 (weak) or 0.15 (moderate). Each
(setting, replicate): simulate n pairs, MAP and NUTS by bayescmoe.fit, whose evidence for a prompt is
the Savage-Dickey log Bayes factor (constant gate; needed from 1) or the PSIS-LOO gain over f0
(sigmoid gate; needed from max(4, 2 s.e.)), and the collapse report's verdict with it.

    python analyses/prompt_needed.py                  # 18 settings x 10 replicates, n = 300, 4 chains x 500 + 500
    python analyses/prompt_needed.py --quick          # 2 settings x 1 replicate, n = 200, 2 chains x 150 + 150

Resumable: cells are journalled in <out>/prompt-needed.nc; rerunning continues where a killed run
stopped. Prints, per setting, the share of fits answered "prompt needed" by the evidence and
"prompt not needed" by the verdict.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.prompt_needed import design, needed_rates, run_prompt_needed

#: (families, gates, shares, n, replicates, chains) of the full and the quick run
FULL = (
    ("gaussian", "laplace", "student_t"),
    ("constant", "sigmoid"),
    ("none", "weak", "moderate"),
    300,
    10,
    Chains(500, 500, 4),
)
QUICK = (("gaussian",), ("constant", "sigmoid"), ("none",), 200, 1, Chains(150, 150, 2))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every cell (resuming) and print the rates."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 settings x 1 replicate, n = 200, 2 x (150 + 150)")
    parser.add_argument("--replicates", type=int, default=None, help="replicates per setting (default 10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/prompt-needed")

    def run() -> None:
        args = parse_checked(parser, argv)
        families, gates, shares, n, replicates, chains = QUICK if args.quick else FULL
        out = Path(args.out) / "prompt-needed.nc"
        start = time.perf_counter()
        ds = run_prompt_needed(
            design(families, gates, shares),
            n,
            args.replicates or replicates,
            out,
            chains=chains,
            seed=args.seed,
            progress=not args.no_progress,
        )
        print(needed_rates(ds).to_string(float_format=lambda v: f"{v:.2f}"))
        print(f"{int(ds['done'].sum())} fits, {time.perf_counter() - start:.0f} s in this run; wrote {out}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
