"""One rate experiment end to end: sweep (resumable), slopes, table and figures.

Used by ``analyses/rates_p1.py`` and ``analyses/rates_p2.py``; rerunning the same command resumes
an interrupted sweep from ``<out>/sweep.nc`` and its journal.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bayescmoe.cli.args import OneLineParser, guarded
from bayescmoe.files import atomic_write
from bayescmoe.plots.rates import plot_rates
from bayescmoe.studies.protocols import Protocol, get_protocol
from bayescmoe.studies.slopes import Slope, error_summary, format_slopes, groups_of, slope_table
from bayescmoe.studies.sweep import ESTIMATORS, INITS, SweepConfig, run_sweep


def write_figures(ds, protocol: Protocol, table: pd.DataFrame, out: Path) -> list[Path]:
    """One PNG per setting, in the papers' style."""
    paths = []
    for setting in protocol.settings:
        done = ds["done"].sel(setting=setting).all("replicate").values.astype(bool)
        if done.sum() < 2:
            continue
        sub = ds.isel(n=done)
        groups = groups_of(ds, setting)
        rows = table[table.setting == setting].set_index("group")
        slopes = {g: Slope(*rows.loc[g, ["slope", "intercept", "lo", "hi"]]) for g in groups}
        summaries = {g: error_summary(sub, setting, g) for g in groups}
        paths.append(plot_rates(setting, summaries, slopes, protocol.theory.get(setting, {}), out / f"{setting}.png"))
    return paths


def run_protocol(protocol: Protocol, config: SweepConfig, out: Path, progress: bool = True, n_boot: int = 1000) -> str:
    """Sweep, then write ``slopes.md`` and figures into ``out``; returns the slope table as markdown."""
    ds = run_sweep(protocol, out / "sweep.nc", config, progress=progress)
    table = slope_table(ds, protocol, n_boot=n_boot)
    text = format_slopes(table)
    atomic_write(out / "slopes.md", lambda tmp: tmp.write_text(text + "\n"))
    write_figures(ds, protocol, table, out)
    return text


def protocol_main(name: str, doc: str | None, argv: Sequence[str] | None = None) -> int:
    """Entry point of an ``analyses/rates_*.py`` script."""
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 sizes up to 1e4, 3 replicates")
    parser.add_argument("--replicates", type=int, default=None, help="override the number of replicates")
    parser.add_argument("--settings", default=None, help="comma-separated subset of the protocol's settings")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="direct")
    parser.add_argument("--init", choices=INITS, default="truth", help="start near the truth, or random starts")
    parser.add_argument("--perturbation", type=float, default=0.1, help="sd of the start around the truth")
    parser.add_argument("--starts", type=int, default=4, help="random starts per cell (--init random)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the slope intervals")
    parser.add_argument("--out", default=None, help="output directory (default results/rates-<protocol>...)")
    parser.add_argument("--no-progress", action="store_true")

    def run() -> None:
        args = parser.parse_args(argv)
        protocol = get_protocol(name)
        protocol = protocol.quick() if args.quick else protocol
        if args.replicates is not None:
            protocol = protocol.with_replicates(args.replicates)
        if args.settings:
            protocol = protocol.with_settings(tuple(args.settings.split(",")))
        config = SweepConfig(
            estimator=args.estimator,
            init=args.init,
            perturbation=args.perturbation,
            random_starts=args.starts,
            seed=args.seed,
        )
        default = f"results/rates-{protocol.name}-{args.estimator}-{args.init}"
        out = Path(args.out or default)
        print(run_protocol(protocol, config, out, progress=not args.no_progress, n_boot=args.n_boot))
        print(f"wrote {out / 'sweep.nc'}, {out / 'slopes.md'} and one figure per setting in {out}")

    return guarded(run)
