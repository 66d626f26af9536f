"""The two replicate studies as commands: MAP versus NUTS intervals, and posterior contraction against n.

Used by ``analyses/map_vs_nuts.py`` and ``analyses/contraction.py``. Both fit P1's identified,
merging and vanishing cells (:mod:`bayescmoe.model.settings`) with :func:`bayescmoe.studies.replicates.run_study`
(resumable: rerunning the same command continues from ``<out>/study.nc`` and its journal), then
write their tables (text) and figures next to the store. ``--workers N`` or ``--scheduler`` fits the
replicates on a Dask cluster (:mod:`bayescmoe.studies.engine`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import xarray as xr

from bayescmoe.cli.args import OneLineParser, add_cluster_arguments, cluster_of, guarded, seed
from bayescmoe.errors import BayescmoeError
from bayescmoe.files import atomic_write, require_writable
from bayescmoe.plots.coverage import plot_coverage
from bayescmoe.plots.rates import plot_rates
from bayescmoe.studies.contraction import QUANTITIES, contraction_table, group_quantity
from bayescmoe.studies.coverage import coverage_table, estimate_errors, pooled_coverage, pooled_errors
from bayescmoe.studies.protocols import N_GRID, get_protocol
from bayescmoe.studies.replicates import StudyConfig, run_study
from bayescmoe.studies.slopes import Slope, error_summary

#: P1's identified, merging and vanishing cells
SETTINGS = ("p1-family", "p1-merging", "p1-vanishing")


class Preset(NamedTuple):
    """Sizes of a study: n grid, replicates and NUTS chains x (warmup + draws)."""

    n_grid: tuple[int, ...]
    replicates: int
    num_warmup: int = 400
    num_samples: int = 300
    num_chains: int = 4


def coverage_report(ds: xr.Dataset, out: Path) -> str:
    """Write coverage.csv, errors.csv, coverage.txt and coverage.png; return the text."""
    table = coverage_table(ds)
    errors = estimate_errors(ds)
    pooled = pooled_coverage(table)
    atomic_write(out / "coverage.csv", lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(out / "errors.csv", lambda tmp: errors.to_csv(tmp, index=False))
    wide = pooled.pivot_table(index=["setting", "n", "group"], columns="method", values="coverage", sort=False)
    width = pooled.pivot_table(index=["setting", "n", "group"], columns="method", values="width", sort=False)
    rmse = pooled_errors(errors)
    text = "\n\n".join(
        [
            f"coverage of {float(ds.attrs['level']):.0%} intervals (mean over each group's scalars)",
            wide.to_string(float_format="{:.3f}".format),
            "median width",
            width.to_string(float_format="{:.3g}".format),
            "root mean square error of the point estimates; median |MAP - posterior mean| / posterior sd",
            rmse.to_string(float_format="{:.3g}".format),
        ]
    )
    atomic_write(out / "coverage.txt", lambda tmp: tmp.write_text(text + "\n"))
    plot_coverage(pooled, float(ds.attrs["level"]), out / "coverage.png")
    return text


def contraction_report(ds: xr.Dataset, out: Path, n_boot: int = 1000) -> str:
    """Write contraction.txt and one figure per setting and quantity; return the text."""
    protocol = get_protocol("p1")
    table = contraction_table(ds, protocol, n_boot=n_boot)
    wide = table.pivot_table(index=["setting", "group", "theory"], columns="quantity", values="slope", sort=False)
    text = "log-log slopes against n (posterior sd, error of the posterior mean, error of the MLE)\n\n"
    text += wide[list(QUANTITIES)].to_string(float_format="{:.3f}".format)
    atomic_write(out / "contraction.txt", lambda tmp: tmp.write_text(text + "\n"))
    for quantity in QUANTITIES:
        errors = group_quantity(ds, quantity)
        rows = table[table.quantity == quantity]
        for setting in map(str, ds["setting"].values):
            sub = rows[rows.setting == setting].set_index("group")
            if sub["slope"].isna().all():
                continue
            slopes = {g: Slope(*sub.loc[g, ["slope", "intercept", "lo", "hi"]]) for g in sub.index}
            summaries = {g: error_summary(errors, setting, g) for g in sub.index}
            theory = protocol.theory.get(setting, {})
            plot_rates(f"{setting}: {quantity}", summaries, slopes, theory, out / f"{setting}-{quantity}.png")
    return text


STUDIES: dict[str, tuple[Preset, Preset, Callable[[xr.Dataset, Path], str]]] = {
    "map-vs-nuts": (Preset((1000,), 100), Preset((300,), 4, 100, 100, 2), coverage_report),
    "contraction": (Preset(N_GRID[:13:3], 10), Preset((300, 600), 2, 100, 100, 2), contraction_report),
}


def study_main(name: str, doc: str | None, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``analyses/map_vs_nuts.py`` and ``analyses/contraction.py``."""
    full, quick, report = STUDIES[name]
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"the test preset: {quick}")
    parser.add_argument("--replicates", type=int, default=None, help=f"replicates per cell (default {full.replicates})")
    parser.add_argument("--n", default=None, help="comma-separated sample sizes (default " + str(full.n_grid) + ")")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings")
    parser.add_argument("--num-warmup", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=None)
    parser.add_argument("--num-chains", type=int, default=None)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", default=f"results/{name}", help="output directory")
    parser.add_argument("--no-progress", action="store_true")
    add_cluster_arguments(parser)

    def run() -> None:
        args = parser.parse_args(argv)
        cluster = cluster_of(args)
        preset = quick if args.quick else full
        chosen = {k: getattr(args, k) for k in ("replicates", "num_warmup", "num_samples", "num_chains")}
        sizes = preset._replace(**{k: v for k, v in chosen.items() if v is not None})
        n_grid = sizes.n_grid if args.n is None else _ints(args.n, "n")
        settings = tuple(args.settings.split(","))
        config = StudyConfig(settings=settings, seed=args.seed, **(sizes._asdict() | {"n_grid": n_grid}))
        out = require_writable(args.out)
        ds = run_study(config, out / "study.nc", progress=not args.no_progress, cluster=cluster)
        print(report(ds, out))
        seconds = float(ds["seconds"].sum())
        fits = int(ds["done"].sum())
        print(f"{fits} fits, {seconds:.0f} s of fitting; wrote {out / 'study.nc'} and tables/figures in {out}")

    return guarded(run)


def _ints(text: str, field: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise BayescmoeError(field, f"expected comma-separated integers, got {text!r}") from None
