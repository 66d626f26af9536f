"""Does the collapse report flag every collapsed fit along paths to collapse, and no control?

Model: p(y | x) = (1 - lam) f0(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu), d = 2, X ~ N(0, I_2),
frozen a0 = e1, b0 = 0, nu0 = 0.1 (bayescmoe.studies.collapse_paths.standard_paths). Paths at a fixed n:
  merging    f0 Gaussian, lam* = 0.4, (a, b, nu) = (a0, b0, nu0) + Delta u, u = (e2, 1, 0.1)/||.||, Delta -> 0
  vanishing  f0 Student-t(5), (a, b, nu) = (-e1 + e2, 0.5, 0.1), lam* -> 0
  control            f0 Student-t(5) (distinguishable), the merging moves
  control-laplace    f0 Laplace, the merging moves
  control-structure  f0 Gaussian linear, sigmoid prompt sigmoid(a.x + b) (another structure), the merging moves
  nearly-gaussian-t30, -t100  f0 Student-t(30), t(100), lam* = 0.3, prompt = f0's mean and variance + Delta u
  near-linear        f0 Gaussian linear of slope 0.3, tanh prompt tanh(a.x + b), lam* = 0.4, the merging moves
  vanishing-sigmoid  P2's model in d = 2: sigmoid gate, Laplace f0 tanh(e1.x), prompt tanh(-e1.x), tau* -> -inf
Each point: simulate n pairs, MAP from the truth, NUTS from the MAP, bayescmoe.diagnostics.collapse verdict
with the evidence for a prompt (Savage-Dickey for the constant gate, PSIS-LOO for the sigmoid gate) and
from the posterior alone.
Ground truth, independent of the classifier: with I the per-observation Fisher information at the
truth (Monte Carlo), the predicted posterior variance is diag(I^-1)/n (delta method to log nu), the
predicted contraction 1 - var / prior var; "collapsed" when some parameter's is below 0.9 (the
classifier's threshold) or I is singular (Delta = 0, lam* = 0), kind "merging" when the weakest
parameter is a gate parameter, else "vanishing". The merging rate theory (gate error
n^-1/2 / Delta^2, docs/science.md: *The rates*) puts the merging boundary at Delta ~ n^-1/4 times a constant.

    python analyses/collapse_paths.py            # 6 + 6 + 3 x 6 + 3 x 6 + 5 points, n = 2000, 4 chains x 500 + 500
    python analyses/collapse_paths.py --n 20000  # the same paths at a larger n
    python analyses/collapse_paths.py --quick    # 2 + 2 + 3 x 1 + 3 x 1 points, n = 1000, 2 chains x 200 + 400

Writes <out>/paths.nc (dims path x point) and prints one row per fit, the confusion tables
(Fisher label x verdict, with the evidence and from the posterior alone), how many verdicts
name their label, and the counts of collapsed fits not flagged and of controls flagged.

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.files import atomic_write
from bayescmoe.studies.collapse_paths import (
    Chains,
    agreement,
    confusion,
    errors,
    path_points,
    run_paths,
    standard_paths,
)

DELTAS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.0)
#: (merging and control Delta, vanishing lam*, control Delta, nearly Gaussian and near-linear Delta,
#: sigmoid tau*) of the full and the quick run
FULL = (DELTAS, (0.5, 0.1, 0.03, 0.01, 0.002, 0.0), None, DELTAS, (-1.0, -3.0, -5.0, -6.5, -8.0))
QUICK = ((1.0, 0.0), (0.5, 0.0), (1.0,), (0.0,), ())
#: columns stored in the dataset besides the coordinates
STORED = (
    "value",
    "label",
    "weakest",
    "singular",
    "predicted_min_contraction",
    "verdict",
    "verdict_posterior",
    "reason",
    "evidence",
    "min_contraction",
    "gate_contraction",
    "prompt_contraction",
    "prompt_observations",
    "gate_mass_near_zero",
    "frozen_p",
    "frozen_p_gated",
    "merge_probe",
    "rhat",
    "ess_bulk",
    "divergences",
    "map_distance",
)


def to_dataset(rows: pd.DataFrame, attrs: dict) -> xr.Dataset:
    """rows -> Dataset with dims (path, point); missing points (shorter paths) are NaN or ''."""
    table = rows.set_index(["path", "point"])[list(STORED)]
    ds = table.to_xarray()
    for name in ds.data_vars:
        if ds[name].dtype == object:
            ds[name] = ds[name].fillna("").astype(str)
    ds["value"].attrs["description"] = "Delta (merging kinds, controls), lam* (vanishing) or tau* (vanishing-sigmoid)"
    ds["label"].attrs["description"] = "Fisher ground truth: identified, collapsed: merging, collapsed: vanishing"
    ds.attrs.update(attrs)
    return ds


def format_rows(rows: pd.DataFrame) -> str:
    """One line per fit: path, value, Fisher label, verdicts, log BF, contraction, prompt observations, probe, ..."""
    table = pd.DataFrame(
        {
            "path": rows["path"],
            "Delta, lam* or tau*": rows["value"].map(lambda v: f"{v:g}"),
            "predicted label": rows["label"],
            "predicted min contraction": rows["predicted_min_contraction"].map(lambda v: f"{v:.3g}"),
            "verdict": rows["verdict"],
            "posterior alone": rows["verdict_posterior"],
            "evidence": rows["evidence"].map(lambda v: f"{v:.3g}"),
            "min contraction": rows["min_contraction"].map(lambda v: f"{v:.3f}"),
            "n wbar": rows["prompt_observations"].map(lambda v: f"{v:.3g}"),
            "probe": rows["merge_probe"].map(lambda v: f"{v:.3g}"),
            "R-hat max": rows["rhat"].map(lambda v: f"{v:.3f}"),
            "divergences": rows["divergences"].astype(int),
        }
    )
    return table.to_string(index=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Fit every path point, write ``<out>/paths.nc``, print the rows, the confusion table and the error counts."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 points, n = 1000, 2 chains x 200 + 400, 4000 MC draws")
    parser.add_argument("--n", type=int, default=None, help="sample size (default 2000; 1000 with --quick)")
    add_output_arguments(parser, "results/collapse-paths")

    def run() -> None:
        args = parse_checked(parser, argv)
        n = args.n or (1000 if args.quick else 2000)
        chains = Chains(200, 400, 2) if args.quick else Chains()
        fisher_samples = 4000 if args.quick else 20000
        start = time.perf_counter()
        paths = standard_paths(*(QUICK if args.quick else FULL))
        rows = run_paths(path_points(paths), n, args.seed, chains, fisher_samples)
        seconds = time.perf_counter() - start
        attrs = {"n": n, "seed": args.seed, "fisher_samples": fisher_samples, "seconds": seconds, **chains._asdict()}
        ds = to_dataset(rows, attrs)
        nc = atomic_write(Path(args.out) / "paths.nc", lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        print(format_rows(rows))
        print()
        for title, column in (("with the evidence", "verdict"), ("from the posterior alone", "verdict_posterior")):
            print(f"verdict {title}:")
            print(confusion(rows, column).to_string())
            print(", ".join(f"{name}: {count}" for name, count in agreement(rows, column).items()))
            print()
        for name, count in errors(rows).items():
            print(f"{name}: {count}")
        print(f"n = {n}, {len(rows)} fits, {chains.num_chains} chains x {chains.num_samples} draws, {seconds:.1f} s")
        print(f"wrote {nc}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
