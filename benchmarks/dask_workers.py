"""The same rate sweep serially, on a 1-worker and on a 2-worker Dask LocalCluster: wall time and cost per cell.

    python benchmarks/dask_workers.py      # P2's distinguishable and merging-eta cells, 3 n in 1e4..1e5, 40 replicates
    python benchmarks/dask_workers.py --sizes 1e3 1e4 2 --replicates 2 --rounds 1

Every run is a fresh sweep into a temporary folder, timed from the call to the saved store: a
cluster run's wall time includes starting the LocalCluster (worker processes that import bayescmoe
and load their programs from the persistent compilation cache) and closing it. A warm-up serial run
first fills that cache, and JAX's in-memory caches are cleared before each serial run, so that it
too loads its programs from the cache. The modes alternate within each round (serial, 1 worker,
2 workers, serial, ...) and the table gives each mode's median over the rounds: wall time, seconds
per cell (wall / cells), speed-up (serial wall / wall), and the fit time summed inside the cells
(the records' ``seconds``: it grows when workers share the cores), and the machine's load average
(other processes on the cores slow the workers). Every run's records are checked bit-identical to the
first serial run's (wall times aside).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import xarray as xr

from bayescmoe.cli import OneLineParser, guarded
from bayescmoe.errors import require
from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.protocols import get_protocol
from bayescmoe.studies.sweep import run_sweep

MODES = {"serial": None, "1 worker": Cluster(workers=1), "2 workers": Cluster(workers=2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="p2")
    parser.add_argument("--settings", default="p2-distinguishable,p2-merging-eta", help="comma-separated")
    parser.add_argument(
        "--sizes", nargs=3, type=float, default=(1e4, 1e5, 3), metavar=("LO", "HI", "NUM"), help="log-spaced sizes"
    )
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, interleaved")

    def run() -> None:
        args = parser.parse_args(argv)
        require(args.rounds > 0, "rounds", "must be a positive integer")
        lo, hi, num = args.sizes
        protocol = (
            get_protocol(args.protocol)
            .with_settings(tuple(args.settings.split(",")))
            .with_grid(lo, hi, int(num))
            .with_replicates(args.replicates)
        )
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            reference = run_sweep(protocol, Path(tmp) / "warm-up.nc", progress=False).drop_vars("seconds")
            walls: dict[str, list[float]] = {mode: [] for mode in MODES}
            fitting: dict[str, list[float]] = {mode: [] for mode in MODES}
            for i in range(args.rounds):
                for mode, cluster in MODES.items():
                    if cluster is None:
                        jax.clear_caches()
                    start = time.perf_counter()
                    ds = run_sweep(protocol, Path(tmp) / f"{i}-{mode}.nc", progress=False, cluster=cluster)
                    walls[mode].append(time.perf_counter() - start)
                    fitting[mode].append(float(ds["seconds"].sum()))
                    xr.testing.assert_identical(ds.drop_vars("seconds"), reference)
                    print(f"round {i + 1}, {mode}: {walls[mode][-1]:.1f} s", flush=True)
        cells = int(reference["done"].sum())
        serial = statistics.median(walls["serial"])
        print(f"\n{protocol.settings}, n = {protocol.n_grid}, {protocol.replicates} replicates: {cells} cells")
        print(f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores")
        print("\n| mode | wall (s) | s per cell | speed-up | fit time in the cells (s) |\n|---|---|---|---|---|")
        for mode in MODES:
            wall = statistics.median(walls[mode])
            fit = statistics.median(fitting[mode])
            print(f"| {mode} | {wall:.1f} | {wall / cells:.2f} | {serial / wall:.2f}x | {fit:.1f} |")

    return guarded(run)


if __name__ == "__main__":
    raise SystemExit(main())
