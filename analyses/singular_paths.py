"""The collapse in Bayesian terms: learning coefficient, WBIC, evidence and Bayes factor along the paths.

Model and paths as analyses/collapse_paths.py (d = 2, constant gate, linear experts with bias, frozen
a0 = e1, b0 = 0, nu0 = 0.1, so k = 5 free parameters and k/2 = 2.5):
  merging    f0 Gaussian, lam* = 0.4, (a, b, nu) = (a0, b0, nu0) + Delta u, Delta -> 0
  vanishing  f0 Student-t(5), (a, b, nu) = (-e1 + e2, 0.5, 0.1), lam* -> 0 (0: no prompt in the data)
  control    f0 Student-t(5) (distinguishable), the merging moves
Each (point, n): simulate, MAP, NUTS from the MAP, then bayescmoe.studies.singular.singular_report
(local learning coefficient at the power t = 1/log n, WBIC, WAIC, log Z by stepping-stone and thermodynamic
integration over a ladder of power posteriors, the Laplace approximation, the log Bayes factor against
the frozen expert alone, and Savage-Dickey's from the posterior draws) and the collapse report's
verdict from the posterior alone and given the log Bayes factor, beside the Fisher label of the truth.

    python analyses/singular_paths.py            # 3 + 3 + 2 points x n = 1000, 4000, 4 chains x 400 + 400
    python analyses/singular_paths.py --quick    # merging Delta = 1, 0, n = 300, 2 chains x 100 + 100, 4 temperatures

Resumable: cells are journalled in <out>/singular-paths.nc; rerunning continues where a killed run
stopped. Prints one row per (point, n) and writes <out>/singular-paths.png.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.plots.singular import plot_singular_paths
from bayescmoe.studies.collapse_paths import Chains, path_points, standard_paths
from bayescmoe.studies.singular_paths import run_singular_paths, singular_table

#: (merging Delta, vanishing lam*, control Delta, n grid, chains, temperatures) of the full and the quick run
FULL = ((1.0, 0.1, 0.0), (0.1, 0.01, 0.0), (1.0, 0.0), (1000, 4000), Chains(400, 400, 4), 24)
QUICK = ((1.0, 0.0), (), (), (300,), Chains(100, 100, 2), 4)
#: the paths of collapse_paths this analysis follows
PATHS = ("merging", "vanishing", "control")


def format_rows(rows: pd.DataFrame) -> str:
    """One line per (point, n): the learning coefficient, WBIC against -log Z, the Bayes factor and the verdicts."""
    table = pd.DataFrame(
        {
            "path": rows["path"],
            "Delta or lam*": rows["value"].map(lambda v: f"{v:g}"),
            "n": rows["n"],
            "llc": [f"{v:.2f} +/- {s:.2f}" for v, s in zip(rows["llc"], rows["llc_se"], strict=True)],
            "llc/(k/2)": rows["llc_ratio"].map(lambda v: f"{v:.2f}"),
            "WBIC": rows["wbic"].map(lambda v: f"{v:.1f}"),
            "-log Z": [
                f"{-v:.2f} +/- {s:.2f}" for v, s in zip(rows["log_evidence"], rows["log_evidence_se"], strict=True)
            ],
            "SS - TI": [
                f"{v:+.2f} ({s:.2f})" for v, s in zip(rows["ss_minus_ti"], rows["ss_minus_ti_se"], strict=True)
            ],
            "Laplace - SS": (rows["log_evidence_laplace"] - rows["log_evidence"]).map(lambda v: f"{v:+.2f}"),
            "log BF": rows["log_bayes_factor"].map(lambda v: f"{v:.1f}"),
            "Savage-Dickey": rows["log_bayes_factor_savage_dickey"].map(lambda v: f"{v:.1f}"),
            "verdict (posterior)": rows["verdict_posterior"],
            "verdict (with log BF)": rows["verdict"],
            "Fisher": rows["fisher_collapsed"].map(lambda v: "collapsed" if v else "identified"),
        }
    )
    return table.to_string(index=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every (point, n) cell (resuming), print the rows and draw the figure."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="merging Delta = 1, 0, n = 300, 2 chains x 100 + 100, 4 temperatures"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(parser, "results/singular-paths")

    def run() -> None:
        args = parse_checked(parser, argv)
        deltas, lams, control, n_grid, chains, temperatures = QUICK if args.quick else FULL
        paths = [p for p in standard_paths(deltas, lams, control) if p.name in PATHS and len(p.deltas)]
        out = Path(args.out)
        start = time.perf_counter()
        ds = run_singular_paths(
            path_points(paths),
            n_grid,
            out / "singular-paths.nc",
            chains=chains,
            num_temperatures=temperatures,
            seed=args.seed,
            progress=not args.no_progress,
        )
        rows = singular_table(ds)
        print(format_rows(rows))
        figure = plot_singular_paths(rows, out / "singular-paths.png")
        seconds = time.perf_counter() - start
        print(f"{len(rows)} cells, {seconds:.0f} s in this run; wrote {out / 'singular-paths.nc'}, {figure}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
