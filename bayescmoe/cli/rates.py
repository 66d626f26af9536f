"""One rate experiment end to end: sweep (resumable), slopes, table and figures.

Used by ``analyses/rates_p1.py`` and ``analyses/rates_p2.py``; rerunning the same command resumes
an interrupted sweep from ``<out>/sweep.nc`` and its journal. ``--workers N`` or ``--scheduler``
fits the cells on a Dask cluster (:mod:`bayescmoe.studies.engine`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bayescmoe.cli.args import OneLineParser, add_cluster_arguments, cluster_of, guarded, seed, sizes
from bayescmoe.files import atomic_write, require_writable
from bayescmoe.model.settings import get_setting
from bayescmoe.plots.rates import plot_rates
from bayescmoe.studies.engine import Cluster
from bayescmoe.studies.protocols import Protocol, get_protocol
from bayescmoe.studies.slopes import RUNAWAY, Slope, error_summary, format_slopes, gate_table, groups_of, slope_table
from bayescmoe.studies.sweep import ESTIMATORS, INITS, SweepConfig, run_sweep

#: EM's stopping rules: ours, and that of the papers' group's public EM scripts
EM_STOPS = {
    "ours": {"em_max_iter": 2000, "em_tol": 1e-10, "em_relative": False},
    "papers": {"em_max_iter": 2000, "em_tol": 1e-6, "em_relative": True},
}


def write_figures(
    ds, protocol: Protocol, table: pd.DataFrame, out: Path, groups: Sequence[str] | None = None
) -> list[Path]:
    """One PNG per setting, in the papers' style: a panel per error group (``groups``, default every one)."""
    paths = []
    for setting in protocol.settings:
        done = ds["done"].sel(setting=setting).all("replicate").values.astype(bool)
        if done.sum() < 2:
            continue
        sub = ds.isel(n=done)
        panels = groups_of(ds, setting) if groups is None else groups  # per setting: the gates' groups differ
        rows = table[table.setting == setting].set_index("group")
        slopes = {g: Slope(*rows.loc[g, ["slope", "intercept", "lo", "hi"]]) for g in panels}
        summaries = {g: error_summary(sub, setting, g) for g in panels}
        paths.append(plot_rates(setting, summaries, slopes, protocol.theory.get(setting, {}), out / f"{setting}.png"))
    return paths


def run_protocol(
    protocol: Protocol,
    config: SweepConfig,
    out: Path,
    progress: bool = True,
    n_boot: int = 1000,
    cluster: Cluster | None = None,
) -> str:
    """Sweep (on ``cluster``, if given), then write ``slopes.md`` and figures into ``out``; returns the slope table."""
    ds = run_sweep(protocol, out / "sweep.nc", config, progress=progress, cluster=cluster)
    table = slope_table(ds, protocol, n_boot=n_boot)
    text = format_slopes(table)
    for setting in protocol.settings:
        if get_setting(setting).spec.gate == "sigmoid":
            gates = gate_table(ds, setting).to_string(float_format=lambda v: f"{v:.3g}")
            text += f"\n\n{setting}: the gate per n (runaway: gate error > {RUNAWAY:g})\n{gates}"
    atomic_write(out / "slopes.md", lambda tmp: tmp.write_text(text + "\n"))
    write_figures(ds, protocol, table, out)
    return text


def protocol_main(name: str, doc: str | None, argv: Sequence[str] | None = None) -> int:
    """Entry point of an ``analyses/rates_*.py`` script."""
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 sizes up to 1e4, 2 replicates")
    parser.add_argument("--replicates", type=int, default=None, help="override the number of replicates")
    parser.add_argument("--settings", default=None, help="comma-separated subset of the protocol's settings")
    parser.add_argument("--sizes", default=None, help="LO,HI,NUM: NUM log-spaced sample sizes instead of the grid")
    parser.add_argument("--estimator", choices=ESTIMATORS, default="direct")
    parser.add_argument("--init", choices=INITS, default="truth", help="start near the truth, or random starts")
    parser.add_argument("--perturbation", type=float, default=0.1, help="sd of the start around the truth")
    parser.add_argument("--starts", type=int, default=4, help="random starts per cell (--init random)")
    parser.add_argument(
        "--em-stop",
        choices=tuple(EM_STOPS),
        default="ours",
        help="EM's stopping rule: ours (mean log-lik gain < 1e-10) or papers (relative change < 1e-6, at most 2000)",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=SweepConfig.tol,
        help="L-BFGS stops when the preconditioned gradient of the mean objective is below this",
    )
    parser.add_argument(
        "--ftol",
        type=float,
        default=SweepConfig.ftol,
        help="... or when one iteration changes the mean objective by at most this (1 + |value|); 0: only by 0",
    )
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the slope intervals")
    parser.add_argument("--out", default=None, help="output directory (default results/rates-<protocol>...)")
    parser.add_argument("--no-progress", action="store_true")
    add_cluster_arguments(parser)

    def run() -> None:
        args = parser.parse_args(argv)
        cluster = cluster_of(args)
        protocol = get_protocol(name)
        protocol = protocol.quick() if args.quick else protocol
        if args.replicates is not None:
            protocol = protocol.with_replicates(args.replicates)
        if args.settings:
            protocol = protocol.with_settings(tuple(args.settings.split(",")))
        if args.sizes:
            lo, hi, num = sizes(args.sizes)
            protocol = protocol.with_grid(lo, hi, num)
        config = SweepConfig(
            estimator=args.estimator,
            init=args.init,
            perturbation=args.perturbation,
            random_starts=args.starts,
            seed=args.seed,
            tol=args.tol,
            ftol=args.ftol,
            **EM_STOPS[args.em_stop],
        )
        em = f"-{args.em_stop}" if args.estimator == "em" and args.em_stop != "ours" else ""
        default = f"results/rates-{protocol.name}-{args.estimator}{em}-{args.init}"
        out = require_writable(args.out or default)
        print(run_protocol(protocol, config, out, progress=not args.no_progress, n_boot=args.n_boot, cluster=cluster))
        print(f"wrote {out / 'sweep.nc'}, {out / 'slopes.md'} and one figure per setting in {out}")

    return guarded(run)
