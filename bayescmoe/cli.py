"""The ``bayescmoe`` command: list settings, fit one, summarise, plot or diagnose a saved result.

    bayescmoe list
    bayescmoe fit p2-distinguishable --n 2000 --out results
    bayescmoe fit --config my-cell.toml
    bayescmoe summary results/p2-distinguishable.nc
    bayescmoe plot results/p2-distinguishable.nc
    bayescmoe collapse results/p2-merging-nu-e1.nc

Bad input ends with one line on stderr, exit status 2, and no output file written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bayescmoe.errors import BayescmoeError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BayescmoeError("arguments", message)


def add_run_arguments(parser: argparse.ArgumentParser, out: str = "results") -> None:
    """The flags shared by ``bayescmoe fit`` and every ``models/`` script."""
    parser.add_argument("--n", type=int, default=None, help="sample size (default: the setting's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, starts and chains")
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--num-chains", type=int, default=4)
    parser.add_argument("--init", choices=("map", "prior"), default="map", help="where NUTS chains start")
    parser.add_argument("--no-log-likelihood", action="store_true", help="do not store the pointwise log-lik")
    parser.add_argument("--out", default=out, help="output directory (DataTree .nc and figures)")
    parser.add_argument("--no-plots", action="store_true", help="skip the trace and pair plots")


def run_and_report(setting, args: argparse.Namespace) -> Path:
    """Run a setting with the parsed flags, print its table, write its result and figures."""
    from bayescmoe.plots import plot_pair, plot_trace
    from bayescmoe.results import save
    from bayescmoe.workflow import RunConfig, run_setting

    config = RunConfig(
        n=args.n,
        seed=args.seed,
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        num_chains=args.num_chains,
        init=args.init,
        log_likelihood=not args.no_log_likelihood,
    )
    dt = run_setting(setting, config)
    print(describe(dt))
    out = Path(args.out)
    path = save(dt, out / f"{setting.name}.nc")
    written = [path]
    if not args.no_plots:
        written += [plot_trace(dt, out / f"{setting.name}-trace.png"), plot_pair(dt, out / f"{setting.name}-pair.png")]
    print("wrote " + ", ".join(str(p) for p in written))
    return path


def describe(dt) -> str:
    """Header (setting, sizes, convergence, timings) and the fit table of a result."""
    from bayescmoe.report import fit_table, format_table

    a = dt.attrs
    lines = [f"{a.get('setting', 'result')} ({a.get('paper', '')}, {a.get('regime', '')}): {a.get('description', '')}"]
    lines.append(f"n = {a.get('n', dt['observed_data']['y'].size)}, seed = {a.get('seed', '?')}")
    for kind in ("mle", "map"):
        if kind in dt.children:
            k = dt[kind].attrs
            lines.append(
                f"{kind.upper()}: log-lik {k['log_likelihood']:.2f}, converged {bool(k['converged'])} "
                f"({k['n_iter']} iterations, |grad| {k['grad_norm']:.1e}), "
                f"information positive definite {bool(k['information_pd'])}"
                + (", DEGENERATE (nu -> 0 spike)" if k["degenerate"] else "")
            )
    if "sample_stats" in dt.children:
        ss = dt["sample_stats"]
        lines.append(
            f"NUTS: {ss.sizes['chain']} chains x {ss.sizes['draw']} draws, {int(ss['diverging'].sum())} divergences"
        )
    timings = [
        f"{k.removesuffix('_seconds')} {a[k]:.1f} s" for k in ("mle_seconds", "map_seconds", "nuts_seconds") if k in a
    ]
    if timings:
        lines.append("time: " + ", ".join(timings))
    return "\n".join(lines) + "\n\n" + format_table(fit_table(dt))


def script_main(setting_name: str, doc: str | None, argv: Sequence[str] | None = None) -> int:
    """Entry point of a ``models/`` script: the setting's flags, one run, one-line errors."""
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    return guarded(lambda: _run_named(setting_name, parser.parse_args(argv)))


def _run_named(name: str, args: argparse.Namespace) -> None:
    from bayescmoe.settings import get_setting

    run_and_report(get_setting(name), args)


def _fit(args: argparse.Namespace) -> None:
    from bayescmoe.config import load_setting
    from bayescmoe.settings import get_setting

    if (args.setting is None) == (args.config is None):
        raise BayescmoeError("setting", "give a setting name or --config FILE (one of them)")
    run_and_report(get_setting(args.setting) if args.config is None else load_setting(args.config), args)


def _list(args: argparse.Namespace) -> None:
    from bayescmoe.settings import SETTINGS

    for s in SETTINGS.values():
        print(f"{s.name:20s} {s.paper}  {s.regime:40s} n={s.n:<6d} {s.description}")


def _summary(args: argparse.Namespace) -> None:
    from bayescmoe.results import load

    print(describe(load(args.result)))


def _collapse(args: argparse.Namespace) -> None:
    from bayescmoe.collapse import collapse_report
    from bayescmoe.results import load

    dt = load(args.result)
    report = collapse_report(dt, eps=args.eps)
    print(f"collapse report of {dt.attrs.get('setting', Path(args.result).name)}")
    print(report.render(parameters=not args.brief))


def _plot(args: argparse.Namespace) -> None:
    from bayescmoe.plots import plot_pair, plot_trace
    from bayescmoe.results import load

    dt = load(args.result)
    stem = Path(args.result).stem
    out = Path(args.out) if args.out else Path(args.result).parent
    paths = [plot_trace(dt, out / f"{stem}-trace.png"), plot_pair(dt, out / f"{stem}-pair.png")]
    print("wrote " + ", ".join(str(p) for p in paths))


def build_parser() -> argparse.ArgumentParser:
    """The ``bayescmoe`` argument parser."""
    parser = OneLineParser(prog="bayescmoe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    sub.add_parser("list", help="list the named settings").set_defaults(func=_list)
    fit = sub.add_parser("fit", help="simulate and fit a setting (MLE, MAP, NUTS)")
    fit.add_argument("setting", nargs="?", help="setting name (see 'bayescmoe list')")
    fit.add_argument("--config", help="TOML file describing spec, truth and data instead of a name")
    add_run_arguments(fit)
    fit.set_defaults(func=_fit)
    summary = sub.add_parser("summary", help="print the table of a saved result")
    summary.add_argument("result")
    summary.set_defaults(func=_summary)
    plot = sub.add_parser("plot", help="draw the trace and pair plots of a saved result")
    plot.add_argument("result")
    plot.add_argument("--out", default=None, help="directory for the figures (default: beside the result)")
    plot.set_defaults(func=_plot)
    collapse = sub.add_parser(
        "collapse", help="classify a saved NUTS fit: identified, prompt vanishing, prompt merging, weakly identified"
    )
    collapse.add_argument("result")
    collapse.add_argument("--eps", type=float, default=None, help="gate 'near 0' level (default: 10 obs per param)")
    collapse.add_argument("--brief", action="store_true", help="omit the per-parameter table")
    collapse.set_defaults(func=_collapse)
    return parser


def guarded(action: Callable[[], object]) -> int:
    """Run ``action``; a :class:`BayescmoeError` becomes one stderr line and exit status 2."""
    try:
        action()
    except BayescmoeError as err:
        print(f"bayescmoe: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bayescmoe: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    parser = build_parser()
    return guarded(lambda: (lambda args: args.func(args))(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
