"""Simulation-based calibration of simulate -> NUTS (Talts et al. 2018).

Model: p(y | x) = (1 - lam) f0(y | a0 x + b0, nu0) + lam N(y | a x + b, nu), d = 1, X ~ N(0, 1),
frozen a0 = 1, b0 = 0, nu0 = 0.1 (bayescmoe.studies.sbc.SBC_SETTINGS):
  distinguishable  f0 Student-t(5); lam ~ Beta(6, 6), a ~ N(-1, 0.3), b ~ N(0.5, 0.3), nu ~ InvGamma(6, 0.5)
  collapsed        f0 Gaussian; lam ~ Beta(2, 2), a ~ N(1, 0.05), b ~ N(0, 0.05), nu ~ InvGamma(20, 1.9):
                   the prompt is drawn next to f0 (merging), so lam is weakly identified
Each simulation: theta ~ prior, n pairs (x, y) ~ p(. | theta), NUTS from NumPyro's data-free start,
then for each scalar parameter and for the log-likelihood sum_i log p(y_i | x_i, theta) (a
data-dependent test quantity, Modrak et al. 2023) the rank of its true value among the posterior
draws. PIT values from the draws arviz-stats' automatic thinning keeps, tested for uniformity by
arviz-stats (``pot_c``, as az.plot_ecdf_pit): a setting passes when every p > 0.01 / (number of
quantities) (Bonferroni). Beside it, Talts et al.'s rank histogram: L draws at a fixed stride,
ranks in {0..L}, a chi-square test on B equal bins.

    python analyses/sbc.py              # 200 simulations per setting, n = 500, 4 chains x 500 + 500, L = 99, B = 20
    python analyses/sbc.py --quick      # 8 simulations per setting, n = 200, 2 chains x 150 + 150, L = 19, B = 5
    python analyses/sbc.py --settings distinguishable --sims 400
    python analyses/sbc.py --workers 2  # the simulations on a 2-worker Dask LocalCluster (or --scheduler tcp://...)

Writes <out>/sbc.nc (dims setting x n x replicate [x param], resumable: rerunning with the same
--out and flags fits only the missing simulations; other flags are refused), <out>/sbc-<setting>.png
(rank histograms with the 99% band of uniform counts) and <out>/sbc-<setting>-ecdf.png (ECDF
difference of the PIT values with arviz-plots' simultaneous band and p-value); prints per setting
and quantity the PIT p, the chi-square p, the verdict, the shares of simulations with R-hat > 1.01
or with divergences, the smallest ESS and the fewest draws the automatic thinning kept.

Background: docs/science.md, *The model*, *When learning slows*, *What the papers leave open*.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import bayescmoe
from bayescmoe.cli import (
    OneLineParser,
    add_cluster_arguments,
    add_output_arguments,
    cluster_of,
    guarded,
    parse_checked,
)
from bayescmoe.plots.sbc import plot_ecdf_difference, plot_rank_histograms
from bayescmoe.studies.sbc import SBC_SETTINGS, SBCConfig, pit_tree, rank_histogram, run_sbc, summary

#: (sims, n, warmup, draws, chains, L, bins) of the full and the quick run
FULL = {"sims": 200, "n": 500, "num_warmup": 500, "num_samples": 500, "num_chains": 4, "num_ranks": 99, "bins": 20}
QUICK = {"sims": 8, "n": 200, "num_warmup": 150, "num_samples": 150, "num_chains": 2, "num_ranks": 19, "bins": 5}


def format_summary(table: pd.DataFrame) -> str:
    """One line per setting and quantity: simulations, PIT and chi-square p, Bonferroni threshold, verdict, sampler."""
    shown = pd.DataFrame(
        {
            "setting": table["setting"],
            "param": table["param"],
            "sims": table["sims"],
            "PIT p": table["pit_p"].map(lambda v: f"{v:.3g}"),
            "chi2 p": table["chi2_p"].map(lambda v: f"{v:.3g}"),
            "p needed": table["threshold"].map(lambda v: f"{v:.3g}"),
            "verdict": table["verdict"],
            "R-hat > 1.01": table["rhat_share"].map(lambda v: f"{v:.1%}"),
            "divergent": table["divergent_share"].map(lambda v: f"{v:.1%}"),
            "min ESS": table["min_ess"].map(lambda v: f"{v:.0f}"),
            "min kept": table["min_kept"].map(lambda v: f"{v:.0f}"),
        }
    )
    return shown.to_string(index=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run or resume the SBC, write ``<out>/sbc.nc`` and the figures, print the calibration table."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 sims, n = 200, 2 chains x 150 + 150, L = 19")
    parser.add_argument("--sims", type=int, default=None, help="simulations per setting (default 200; 8 with --quick)")
    parser.add_argument("--n", type=int, default=None, help="sample size (default 500; 200 with --quick)")
    add_output_arguments(parser, "results/sbc")
    parser.add_argument("--settings", nargs="+", default=list(SBC_SETTINGS), help=f"subset of {list(SBC_SETTINGS)}")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_arguments(parser)

    def run() -> None:
        args = parse_checked(parser, argv)
        cluster = cluster_of(args)
        size = dict(QUICK if args.quick else FULL)
        size.update({k: v for k, v in (("sims", args.sims), ("n", args.n)) if v is not None})
        config = SBCConfig(settings=tuple(args.settings), seed=args.seed, **size)
        out = Path(args.out)
        ds, fitted = run_sbc(config, out / "sbc.nc", progress=not args.no_progress, cluster=cluster)
        written = [out / "sbc.nc"]
        for name in config.settings:
            written.append(plot_rank_histograms(rank_histogram(ds, name), out / f"sbc-{name}.png"))
            written.append(plot_ecdf_difference(pit_tree(ds, name), out / f"sbc-{name}-ecdf.png"))
        print(format_summary(summary(ds)))
        print()
        seconds = ds["seconds"].values[ds["done"].values.astype(bool)]
        print(
            f"n = {config.n}, {config.num_chains} chains x ({config.num_warmup} + {config.num_samples}), "
            f"L = {config.num_ranks}, {config.bins} bins; simulations fitted now {fitted}, "
            f"stored {seconds.size}; seconds per simulation: median {np.median(seconds):.2f}, "
            f"total {seconds.sum():.1f} (first one of each setting includes compilation)"
        )
        print("wrote " + ", ".join(str(p) for p in written))

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
