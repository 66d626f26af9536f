"""An extra prompt for the MLE: how fast does the fitted mixing measure converge under a Voronoi loss?

Data with one prompt (f0 N(x1 - 0.5 x2, 0.25), the prompt N(0.5 x1 + 0.5 x2 + 1, 0.1) with weight 0.3,
d = 2 features) fitted by maximum likelihood with K = 2 prompts, every prompt's variance kept above a
floor (the likelihood is unbounded without one); starts at the three forms of the truth (the extra prompt
emptied, splitting the real prompt, copying f0), 4 random and the spread starts. Per fit: the Voronoi loss
between the fitted and the true mixing measure, generic (order 2 in an over-fitted cell) and sharp (the
orders r_bar of over-fitted Gaussian location-scale mixtures), split into the weights' part and the
parameter parts of the real prompt's cell and of f0's cell, and which cell the extra prompt joined.

    python analyses/overfitted_mle.py            # 9 log-spaced n from 1e3 to 1e5 x 40 replicates, floor 0.025
    python analyses/overfitted_mle.py --quick    # n = 500, 1000 x 2 replicates
    python analyses/overfitted_mle.py --design k2-distinct --replicates 20 --out results/overfitted-mle-k2
                                                 # two prompts (weights 0.3, 0.2) fitted with K = 3

Resumable: cells are journalled in <out>/overfitted-mle.nc. Prints per n where the extra prompt went and
the mean loss parts, then the slopes of the mean loss parts on n (95% bootstrap intervals); writes
<out>/slopes.md and the figure <out>/floor=<floor>.png.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.cli.rates import write_figures
from bayescmoe.files import atomic_write
from bayescmoe.studies.overfitted_mle import DESIGN, DESIGNS, cell_table, protocol, run_overfitted_mle
from bayescmoe.studies.protocols import log_grid
from bayescmoe.studies.slopes import format_slopes, slope_table

#: (n grid, replicates) of the full and the quick run
FULL, QUICK = (log_grid(1e3, 1e5, 9), 40), ((500, 1000), 2)
#: the default variance floor: a tenth of the frozen expert's variance nu0 = 0.25 (the prompt's is 0.1)
FLOOR = 0.025
#: the figure's panels: the weights' part and each cell's parameter part, in both forms
PANELS = ("weight", "prompt_generic", "f0_generic", "prompt_sharp", "f0_sharp")


def main(argv: Sequence[str] | None = None) -> int:
    """Run every cell (resuming), print the tables, write the slopes and the figure."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n = 500, 1000 x 2 replicates")
    parser.add_argument("--replicates", type=int, default=None, help="replicates per n (default 40)")
    parser.add_argument("--floor", type=float, default=FLOOR, help=f"variance floor of the fit (default {FLOOR})")
    parser.add_argument("--design", choices=tuple(DESIGNS), default=DESIGN, help="the data: one prompt or two")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the slope intervals")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/overfitted-mle")

    def run() -> None:
        args = parse_checked(parser, argv)
        n_grid, replicates = QUICK if args.quick else FULL
        study = protocol(n_grid, args.replicates or replicates, [args.floor])
        out = Path(args.out)
        start = time.perf_counter()
        ds = run_overfitted_mle(
            [args.floor], study.n_grid, study.replicates, out / "overfitted-mle.nc", design=args.design,
            seed=args.seed, progress=not args.no_progress,
        )  # fmt: skip
        print(cell_table(ds).to_string(float_format=lambda v: f"{v:.3g}"))
        table = slope_table(ds, study, n_boot=args.n_boot)
        text = format_slopes(table)
        atomic_write(out / "slopes.md", lambda tmp: tmp.write_text(text + "\n"))
        print(text)
        write_figures(ds, study, table, out, PANELS)
        print(f"{int(ds['done'].sum())} fits, {time.perf_counter() - start:.0f} s in this run; wrote {out}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
