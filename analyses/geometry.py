"""Posterior geometry near a merge: the funnel, the heat ridge, and which combinations the data learn.

Model: p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu), d = 2, X ~ N(0, I_2),
frozen a0 = e1, b0 = 0, nu0 = 0.1 (bayescmoe.studies.collapse_paths.GAUSSIAN), lam* = 0.4. Truths
(bayescmoe.studies.fisher_paths.merging_path):
  merging-D  prompt = frozen + D u, u = (e2, 1, 0.1)/||.|| in (a, b, nu), D in {1, 0.3, 0.1}
  heat-0.3   prompt = frozen + 0.3 e_b: only the bias moves
Each truth: simulate n pairs, MAP from the truth, NUTS from the MAP; per draw (bayescmoe.diagnostics.geometry)
Delta_hat = ||(a, b, nu) - (a0, b0, nu0)||, da, db, dnu and the combinations lam Delta_hat,
lam Delta_hat^2, lam db, lam (dnu + db^2).
Theory. Near a merge p - f0 = lam (theta - theta0).grad f + lam (theta - theta0)^T grad^2 f (theta - theta0)/2 + ...:
the data learn lam Delta and lam Delta^2 at n^-1/2 (sqrt(n) x sd bounded as Delta -> 0) but lam only at
n^-1/2 / Delta^2 and theta at n^-1/2 / (lam Delta) (the D2 loss). The heat equation d^2 f/d b^2 = 2 d f/d nu
makes lam (dnu + db^2) the learned coefficient of d f/d nu, so on the heat path b and nu trade along a
ridge. The table: per quantity its truth, posterior median, sd / |median|, 90% width / |median|,
sqrt(n) sd and |median - truth|.

    python analyses/geometry.py            # 4 truths, n = 2000, 4 chains x 500 + 500
    python analyses/geometry.py --n 8000   # the same truths at a larger n
    python analyses/geometry.py --quick    # merging-0.3 and heat-0.3, n = 500, 2 chains x 150 + 150

Writes <out>/geometry-<truth>.nc (each fit's DataTree), <out>/geometry.nc (the table, dims point x
quantity), per truth <out>/geometry-<truth>-{funnel,combinations}.png and on the heat path
<out>/geometry-heat-<Delta>-ridge.png (the b-nu ridge).

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import xarray as xr

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.diagnostics.geometry import geometry_table, posterior_quantities, true_quantities
from bayescmoe.errors import require
from bayescmoe.files import atomic_write
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_map
from bayescmoe.model.simulate import simulate
from bayescmoe.plots.geometry import plot_combinations, plot_funnel, plot_ridge
from bayescmoe.results.datatree import save, to_datatree
from bayescmoe.studies.collapse_paths import GAUSSIAN, MERGE_LAM, MOVE, Chains
from bayescmoe.studies.fisher_paths import merging_path

#: (path, Delta) of the full and the quick run
FULL = (("merging", 1.0), ("merging", 0.3), ("merging", 0.1), ("heat", 0.3))
QUICK = (("merging", 0.3), ("heat", 0.3))
#: the move of each path in (a, b, nu)
MOVES = {"merging": MOVE, "heat": {"b": 1.0}}
#: columns printed
SHOWN = ("kind", "truth", "median", "rel_sd", "rel_width", "sqrt_n_sd", "error")


def truths(points: Sequence[tuple[str, float]]) -> dict[str, dict[str, np.ndarray]]:
    """``{"<path>-<Delta>": truth}`` on :data:`bayescmoe.studies.collapse_paths.GAUSSIAN` at lam* = 0.4."""
    return {
        f"{name}-{delta:g}": merging_path(name, GAUSSIAN, MERGE_LAM, MOVES[name], np.array([delta])).truths[0]
        for name, delta in points
    }


def fit(truth: dict[str, np.ndarray], n: int, key: jax.Array, chains: Chains) -> xr.DataTree:
    """Simulate n pairs, MAP from the truth (no random starts), NUTS from the MAP: the result DataTree."""
    k_data, k_map, k_nuts = jax.random.split(key, 3)
    x, y = simulate(k_data, GAUSSIAN, truth, n)
    map_ = fit_map(GAUSSIAN, x, y, key=k_map, init=truth, num_random_starts=0)
    nuts = fit_nuts(GAUSSIAN, x, y, key=k_nuts, init=map_.params, **chains._asdict())
    return to_datatree(GAUSSIAN, x, y, nuts=nuts, estimates=[map_], truth=truth, log_likelihood=False)


def table_dataset(tables: dict[str, pd.DataFrame], attrs: dict) -> xr.Dataset:
    """The tables of every truth as one Dataset, dims (point, quantity); ``kind`` is a coordinate of quantity."""
    first = next(iter(tables.values()))
    numbers = [xr.Dataset.from_dataframe(t.drop(columns="kind")) for t in tables.values()]
    ds = xr.concat(numbers, dim=pd.Index(list(tables), name="point"))
    ds = ds.assign_coords(kind=("quantity", first["kind"].astype(str).to_numpy()))
    ds.attrs.update(attrs)
    return ds


def main(argv: Sequence[str] | None = None) -> int:
    """Fit every truth, write the results, tables and figures, print the tables."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 truths, n = 500, 2 chains x 150 + 150")
    parser.add_argument("--n", type=int, default=None, help="sample size (default 2000; 500 with --quick)")
    add_output_arguments(parser, "results/geometry")

    def run() -> None:
        args = parse_checked(parser, argv)
        n = args.n or (500 if args.quick else 2000)
        require(n > 1, "n", f"must be at least 2, got {n}")
        chains = Chains(150, 150, 2) if args.quick else Chains()
        out = Path(args.out)
        start = time.perf_counter()
        points = truths(QUICK if args.quick else FULL)
        keys = jax.random.split(jax.random.PRNGKey(args.seed), len(points))
        tables, written = {}, []
        for (name, truth), key in zip(points.items(), keys, strict=True):
            began = time.perf_counter()
            dt = fit(truth, n, key, chains)
            draws, true = posterior_quantities(dt), true_quantities(dt)
            tables[name] = geometry_table(dt)
            written.append(save(dt, out / f"geometry-{name}.nc"))
            written.append(plot_funnel(draws, out / f"geometry-{name}-funnel.png"))
            if name.startswith("heat"):
                written.append(plot_ridge(draws, out / f"geometry-{name}-ridge.png"))
            written.append(plot_combinations(draws, true, out / f"geometry-{name}-combinations.png"))
            divergences = int(dt["sample_stats"]["diverging"].sum())
            print(f"## {name} (n = {n}, {divergences} divergences, {time.perf_counter() - began:.1f} s)")
            print(tables[name][list(SHOWN)].to_string(float_format=lambda v: f"{v:.4g}"))
            print()
        seconds = time.perf_counter() - start
        attrs = {"n": n, "seed": args.seed, "seconds": seconds, "lam": MERGE_LAM, **chains._asdict()}
        ds = table_dataset(tables, attrs)
        nc = atomic_write(out / "geometry.nc", lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        print(f"{len(points)} fits, {chains.num_chains} chains x {chains.num_samples} draws, {seconds:.1f} s")
        print(f"wrote {nc} and {len(written)} files in {out}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
