"""The same rate sweep serially, on a 1-worker and on a 2-worker Dask LocalCluster: wall time and cost per cell.

    python benchmarks/dask_workers.py      # P2's distinguishable and merging-eta cells, 3 n in 1e4..1e5, 40 replicates
    python benchmarks/dask_workers.py --sizes 1e3 1e4 2 --replicates 2 --rounds 1

Every run is a fresh sweep into a temporary folder, in a fresh process as a command would run it,
timed from the call to ``run_sweep`` to the saved store: a cluster run's wall time includes starting
the LocalCluster (worker processes that import bayescmoe) and closing it, and every process traces
its programs and loads them from the persistent compilation cache, which a warm-up serial run fills
first. The modes alternate within each round (serial, 1 worker, 2 workers, serial, ...) and the
table gives each mode's median over the rounds: wall time, seconds per cell (wall / cells), speed-up
(serial wall / wall), and the fit time summed inside the cells (the records' ``seconds``: it grows
when workers share the cores), and the machine's load average (other processes on the cores slow the
workers). Every run's records are checked bit-identical to the first serial run's (wall times
aside).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

import bayescmoe
from bayescmoe.cli import OneLineParser, guarded
from bayescmoe.errors import require
from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.protocols import get_protocol
from bayescmoe.studies.sweep import run_sweep

#: worker processes of each mode (0: serial)
MODES = {"serial": 0, "1 worker": 1, "2 workers": 2}


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="p2")
    parser.add_argument("--settings", default="p2-distinguishable,p2-merging-eta", help="comma-separated")
    parser.add_argument(
        "--sizes", nargs=3, type=float, default=(1e4, 1e5, 3), metavar=("LO", "HI", "NUM"), help="log-spaced sizes"
    )
    parser.add_argument("--replicates", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, interleaved")
    parser.add_argument("--one", nargs=2, metavar=("WORKERS", "OUT"), help=argparse.SUPPRESS)  # a child's run

    def run() -> None:
        args = parser.parse_args(argv)
        require(args.rounds > 0, "rounds", "must be a positive integer")
        lo, hi, num = args.sizes
        sweep = ["--protocol", args.protocol, "--settings", args.settings, "--replicates", str(args.replicates)]
        sweep += ["--sizes", *map(str, args.sizes)]
        protocol = (
            get_protocol(args.protocol)
            .with_settings(tuple(args.settings.split(",")))
            .with_grid(lo, hi, int(num))
            .with_replicates(args.replicates)
        )
        if args.one:  # in a fresh process, as a command would run
            workers, out = int(args.one[0]), Path(args.one[1])
            start = time.perf_counter()
            ds = run_sweep(protocol, out, progress=False, cluster=Cluster(workers=workers) if workers else None)
            print(json.dumps({"wall": time.perf_counter() - start, "fit": float(ds["seconds"].sum())}))
            return

        def one(workers: int, out: Path) -> dict[str, float]:
            child = [sys.executable, __file__, *sweep, "--one", str(workers), str(out)]
            return json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)

        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            one(0, Path(tmp) / "warm-up.nc")  # fills the persistent compilation cache
            with xr.open_dataset(Path(tmp) / "warm-up.nc", engine="h5netcdf") as saved:
                reference = saved.load().drop_vars("seconds")
            runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            for i in range(args.rounds):
                for mode, workers in MODES.items():
                    out = Path(tmp) / f"{i}-{workers}.nc"
                    runs[mode].append(one(workers, out))
                    with xr.open_dataset(out, engine="h5netcdf") as saved:
                        xr.testing.assert_identical(saved.load().drop_vars("seconds"), reference)
                    print(f"round {i + 1}, {mode}: {runs[mode][-1]['wall']:.1f} s", flush=True)
        cells = int(reference["done"].sum())
        serial = statistics.median(r["wall"] for r in runs["serial"])
        print(f"\n{protocol.settings}, n = {protocol.n_grid}, {protocol.replicates} replicates: {cells} cells")
        print(f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores")
        print("\n| mode | wall (s) | s per cell | speed-up | fit time in the cells (s) |\n|---|---|---|---|---|")
        for mode in MODES:
            wall = statistics.median(r["wall"] for r in runs[mode])
            fit = statistics.median(r["fit"] for r in runs[mode])
            print(f"| {mode} | {wall:.1f} | {wall / cells:.2f} | {serial / wall:.2f}x | {fit:.1f} |")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
