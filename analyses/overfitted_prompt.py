"""An extra prompt in Bayes: emptied or duplicated, by the Dirichlet concentration alpha against d/2.

Data with one prompt (f0 N(x1 - 0.5 x2, 0.25), the prompt N(0.5 x1 + 0.5 x2 + 1, 0.1) with weight 0.3,
d = 2 features, so a prompt has d = 4 parameters and d/2 = 2), fitted with K = 2 prompts under a
symmetric Dirichlet(alpha) over (w0, lam_0, lam_1): MAP, NUTS from it, relabelled. Rousseau and
Mengersen (2011): below d/2 the posterior empties the extra component, above it the extra component
tends to duplicate a real one.

    python analyses/overfitted_prompt.py              # 8 alphas x n = 300, 1000, 3000 x 4 replicates, 2 x (300 + 300)
    python analyses/overfitted_prompt.py --quick      # 2 alphas x n = 200 x 1 replicate, 2 x (100 + 100)

Resumable: cells are journalled in <out>/overfitted-prompt.nc. Prints, per (alpha, n), the share of
fits that emptied, duplicated or kept apart the extra prompt, the median posterior median of the
smaller weight and the median standardised distance between the two prompts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.overfitted import overfitted_table, run_overfitted

#: (alphas, n grid, replicates, chains) of the full and the quick run; d/2 = 2
FULL = ((0.25, 0.5, 1.0, 1.5, 2.5, 3.0, 4.0, 8.0), (300, 1000, 3000), 4, Chains(300, 300, 2))
QUICK = ((0.5, 4.0), (200,), 1, Chains(100, 100, 2))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every cell (resuming) and print the table."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 alphas x 1 replicate, n = 200")
    parser.add_argument("--replicates", type=int, default=None, help="replicates per cell (default 4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/overfitted-prompt")

    def run() -> None:
        args = parse_checked(parser, argv)
        alphas, n_grid, replicates, chains = QUICK if args.quick else FULL
        out = Path(args.out) / "overfitted-prompt.nc"
        start = time.perf_counter()
        ds = run_overfitted(
            alphas, n_grid, args.replicates or replicates, out, chains=chains, seed=args.seed,
            progress=not args.no_progress,
        )  # fmt: skip
        print(overfitted_table(ds).to_string(float_format=lambda v: f"{v:.3g}"))
        print(f"{int(ds['done'].sum())} fits, {time.perf_counter() - start:.0f} s in this run; wrote {out}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
