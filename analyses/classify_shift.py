"""A pre-trained classifier on a shifted population: p0 alone, contaminated (MAP, NUTS), or refitted.

Digits of scikit-learn (nothing is downloaded) split by total ink: a multinomial logistic regression on 5
principal components of the lighter half is the frozen classifier p0; on the heavier half, n labelled rows
fit a linear adapter through a sigmoid gate (bayescmoe.fit: MAP, NUTS), and a fixed 300 held-out rows score
p0, the contaminated model and logistic regressions refitted on the n rows (and on the source + the n rows):
log loss, accuracy, expected calibration error, reliability diagrams, and the collapse report's verdicts
(docs/classification.md: *A worked example: a pre-trained classifier on a shifted population*). One resumable
store, <out>/classify-shift.nc.

    python analyses/classify_shift.py            # n = 20 ... 600, 6 replicates, 4 x (500 + 500) draws
    python analyses/classify_shift.py --quick    # n = 30, 300, 1 replicate, 2 x (150 + 150) draws

Prints the metrics table (per n and method) and the fits table (per n), and draws <out>/classify-shift.png.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.plots.classify import plot_classify_shift
from bayescmoe.studies.classify_shift import (
    digits_shift,
    fit_table,
    reliability,
    run_classify_shift,
    scores,
    shift_table,
)
from bayescmoe.studies.collapse_paths import Chains

#: (n grid, replicates, NUTS chains) of the full and the quick run
FULL = ((20, 50, 100, 200, 400, 600), 6, Chains(500, 500, 4))
QUICK = ((30, 300), 1, Chains(150, 150, 2))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cells (resuming), print the tables and draw the figure."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n = 30, 300, 1 replicate, 2 x (150 + 150) draws")
    parser.add_argument("--replicates", type=int, default=None, help="labelled draws per n")
    parser.add_argument("--gate", choices=("sigmoid", "constant"), default="sigmoid", help="the adapter's gate")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/classify-shift")

    def run() -> None:
        args = parse_checked(parser, argv)
        n_grid, replicates, chains = QUICK if args.quick else FULL
        start, out = time.perf_counter(), Path(args.out)
        ds = run_classify_shift(
            n_grid, args.replicates or replicates, out / "classify-shift.nc", chains=chains, gate=args.gate,
            seed=args.seed, progress=not args.no_progress,
        )  # fmt: skip
        data = digits_shift(seed=args.seed)
        home = scores(data.h0_source, data.y_source)
        print(
            f"source {ds.attrs['source_rows']} rows, target {ds.attrs['target_rows']} "
            f"(held out {ds.attrs['target_rows'] - ds.attrs['pool_rows']}, labelled pool {ds.attrs['pool_rows']}); "
            f"p0 on its source (in sample): log loss {home['log_loss']:.3f}, accuracy {home['accuracy']:.3f}"
        )
        print(shift_table(ds).to_string(float_format=lambda v: f"{v:.3f}"))
        print(fit_table(ds).to_string(float_format=lambda v: f"{v:.3g}"))
        small, large = (reliability(ds, n) for n in (n_grid[0], n_grid[-1]))
        png = plot_classify_shift(shift_table(ds), small, large, out / "classify-shift.png")
        print(f"{time.perf_counter() - start:.0f} s in this run; wrote {png}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
