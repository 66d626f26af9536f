"""An extra prompt in Bayes: emptied or merged, by the Dirichlet concentration alpha against d/2.

Data with one prompt (f0 N(x1 - 0.5 x2, 0.25), the prompt N(0.5 x1 + 0.5 x2 + 1, 0.1) with weight 0.3,
d_x = 2 features, so a prompt has d = 4 parameters and d/2 = 2), fitted with K = 2 prompts under a
Dirichlet(alpha0, alpha, alpha) over (w0, lam_0, lam_1): MAP, NUTS from it, relabelled, the collapse
report on the lighter prompt. Rousseau and Mengersen (2011): with every concentration below d/2 the
posterior empties the extra component, with every one above it the extra component tends to duplicate
a real one. Three designs, each its own resumable store in <out>:

    symmetric  alpha0 = alpha in 0.25 ... 8, n = 300, 1000, 3000     (overfitted-prompt.nc)
    alpha0     alpha in 1, 1.5, 2.5 with alpha0 = 0.5 or 8, n = 1000, 3000  (overfitted-prompt-alpha0.nc)
    large-n    alpha0 = alpha in 1.5, 2, n = 10000                   (overfitted-prompt-large-n.nc)

    python analyses/overfitted_prompt.py              # 4 replicates per cell (3 at n = 10000), 2 x (300 + 300) draws
    python analyses/overfitted_prompt.py --quick      # alpha 0.5 and 4 (and 4 with alpha0 = 0.5), n = 200, 1 replicate

Prints a table per design (per prior and n: the share of each outcome, the median over the fits of the
smaller weight's posterior median, of the two prompts' standardised distance and of the lighter prompt's
distance from f0, and the collapse report's verdicts) and draws <out>/overfitted-prompt.png.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.plots.overfitted import plot_overfitted
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.overfitted import d_half, overfitted_fits, overfitted_table, run_overfitted
from bayescmoe.studies.overfitted import setting_name as prior

#: design -> (store's file name, priors, n grid, replicates) of the full run
FULL = {
    "symmetric": ("overfitted-prompt", [prior(a) for a in (0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 8)], (300, 1000, 3000), 4),
    "alpha0": ("overfitted-prompt-alpha0", [prior(a, a0) for a0 in (0.5, 8) for a in (1, 1.5, 2.5)], (1000, 3000), 4),
    "large-n": ("overfitted-prompt-large-n", [prior(a) for a in (1.5, 2)], (10_000,), 3),
}
QUICK = {"quick": ("overfitted-prompt", [prior(0.5), prior(4), prior(4, 0.5)], (200,), 1)}
#: NUTS chains of the full and the quick run
FULL_CHAINS, QUICK_CHAINS = Chains(300, 300, 2), Chains(100, 100, 2)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every design's cells (resuming), print their tables and draw the figure."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 priors x 1 replicate, n = 200")
    parser.add_argument("--replicates", type=int, default=None, help="replicates per cell of every design")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/overfitted-prompt")

    def run() -> None:
        args = parse_checked(parser, argv)
        designs, chains = (QUICK, QUICK_CHAINS) if args.quick else (FULL, FULL_CHAINS)
        start, fits = time.perf_counter(), []
        for design, (stem, priors, n_grid, replicates) in designs.items():
            out = Path(args.out) / f"{stem}.nc"
            ds = run_overfitted(
                priors, n_grid, args.replicates or replicates, out, chains=chains, seed=args.seed,
                progress=not args.no_progress,
            )  # fmt: skip
            print(f"== {design} ({int(ds['done'].sum())} fits; {out}) ==")
            print(overfitted_table(ds).to_string(float_format=lambda v: f"{v:.3g}"))
            fits.append(overfitted_fits(ds))
        png = plot_overfitted(pd.concat(fits), d_half(), Path(args.out) / "overfitted-prompt.png")
        print(f"{time.perf_counter() - start:.0f} s in this run; wrote {png}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
