"""The ``bayescmoe`` command: list settings, fit one, summarise, plot or diagnose a saved result.

    bayescmoe list
    bayescmoe fit p2-distinguishable --n 2000 --out results
    bayescmoe fit --config my-cell.toml
    bayescmoe fit --config spec.toml --data my-data.csv --out results
    bayescmoe summary results/p2-distinguishable.nc
    bayescmoe plot results/p2-distinguishable.nc
    bayescmoe predict results/p2-distinguishable.nc --data new.csv --out predictions.csv
    bayescmoe collapse results/p2-merging-nu-e1.nc [--evidence ladder]
    bayescmoe relabel results/two-prompts.nc --out results/two-prompts-relabelled.nc
    bayescmoe singular results/p2-distinguishable.nc --json
    bayescmoe prompts p1-one-prompt-k2 --max-prompts 3 --out results/prompts.csv

Bad input ends with one line on stderr, exit status 2, and no output file written.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

from bayescmoe.cli.args import (
    OneLineParser,
    add_column_arguments,
    add_run_arguments,
    columns_of,
    fit_options,
    guarded,
    seed,
)
from bayescmoe.defaults import GAMMA, NUM_TEMPERATURES, PAIR_MAX, PROMPT_CRITERIA
from bayescmoe.errors import BayescmoeError, FitWarning, require
from bayescmoe.files import atomic_write, require_writable
from bayescmoe.runtime import configure


def report_run(dt, name: str, args: argparse.Namespace, note: str = "") -> Path:
    """Print a result's table (and ``note``), write ``<out>/<name>.nc`` and, unless ``--no-plots``, its figures."""
    from bayescmoe.plots.fit import plot_pair, plot_trace
    from bayescmoe.results.datatree import save
    from bayescmoe.results.tables import describe

    for key, value in (("setting", name), ("seed", args.seed), ("description", getattr(args, "description", ""))):
        dt.attrs.setdefault(key, value)
    print(describe(dt) + (f"\n\n{note}" if note else ""))
    out = Path(args.out)
    path = save(dt, out / f"{name}.nc", pointwise_dtype=args.pointwise_dtype)
    written = [path]
    if not args.no_plots:
        written += [plot_trace(dt, out / f"{name}-trace.png"), plot_pair(dt, out / f"{name}-pair.png")]
    print("wrote " + ", ".join(str(p) for p in written))
    return path


def run_script(main: Callable[[argparse.Namespace], object], doc: str | None, n: int = 2000) -> int:
    """Entry point of a ``models/`` script: parse the run flags (default size ``n``), call ``main``, one-line errors."""
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, n=n)
    parser.set_defaults(description=doc.strip().splitlines()[0] if doc else "")

    def run() -> None:
        args = parser.parse_args()
        require_writable(args.out)
        main(args)

    return guarded(run)


def _source(args: argparse.Namespace):
    """(name, setting, spec) of a command's SETTING or ``--config``: the setting to simulate, or None with
    ``--data`` (then only the config's spec is read); the name, which names the result file, is checked."""
    from bayescmoe.files import read_toml
    from bayescmoe.model.settings import Setting, get_setting
    from bayescmoe.model.spec import ModelSpec

    if (args.setting is None) == (args.config is None):
        raise BayescmoeError("setting", "give a setting name or --config FILE (one of them)")
    if args.data is None:
        setting = get_setting(args.setting) if args.config is None else Setting.from_file(args.config)
        name, spec = setting.name, setting.spec
    elif args.n is not None:
        raise BayescmoeError("n", "the data file sets n: drop --n with --data")
    elif args.config is None:
        setting, name, spec = None, args.setting, get_setting(args.setting).spec
    else:
        setting, spec = None, ModelSpec.from_file(args.config)
        name = str(read_toml(args.config).get("name", Path(args.config).stem))
    require(
        name.strip() not in ("", ".", "..") and "/" not in name,
        "name",
        f"{name!r} cannot name the result file (<out>/<name>.nc): give the config a name",
    )
    return name, setting, spec


def _fit(args: argparse.Namespace) -> None:
    from bayescmoe.results.data import read_data
    from bayescmoe.workflow.fitting import fit, run_setting

    name, setting, spec = _source(args)
    require_writable(args.out)
    if setting is not None:
        report_run(run_setting(setting, n=args.n, seed=args.seed, **fit_options(args)), setting.name, args)
        return
    x, y = read_data(args.data, spec, **columns_of(args))
    attrs = {"setting": name, "data_file": str(Path(args.data).resolve())}
    report_run(fit(spec, x, y, key=args.seed, attrs=attrs, **fit_options(args)), name, args)


def _list(args: argparse.Namespace) -> None:
    from bayescmoe.model.settings import PROTOCOL_CELLS, SETTINGS

    for s in [*SETTINGS.values(), *PROTOCOL_CELLS.values()]:
        print(f"{s.name:20s} {s.paper}  {s.regime:40s} n={s.n:<6d} {s.description}")


def _summary(args: argparse.Namespace) -> None:
    from bayescmoe.results.datatree import load
    from bayescmoe.results.tables import describe
    from bayescmoe.workflow.fitting import fit_warnings

    dt = load(args.result)
    for line in fit_warnings(dt):
        warnings.warn(line, FitWarning, stacklevel=1)
    print(describe(dt))


def _collapse(args: argparse.Namespace) -> None:
    from bayescmoe.diagnostics.collapse import collapse_report
    from bayescmoe.results.datatree import load
    from bayescmoe.studies.singular import ladder_evidence

    dt = load(args.result)
    require("posterior" in dt.children, "result", f"{args.result} has no posterior: collapse reads a NUTS fit")
    evidence = {"none": None, "ladder": None}.get(args.evidence, args.evidence)
    if args.evidence == "ladder":
        evidence = ladder_evidence(dt, key=args.seed)
    report = collapse_report(dt, evidence=evidence, eps=args.eps)
    print(f"collapse report of {dt.attrs.get('setting', Path(args.result).name)}")
    print(report.render(parameters=not args.brief))


def _relabel(args: argparse.Namespace) -> None:
    from bayescmoe.diagnostics.relabelling import describe_relabelling, relabel, relabelling_of
    from bayescmoe.results.datatree import load, save

    out = Path(args.out)
    require(out.suffix == ".nc", "out", f"{out}: a result is written as NetCDF (.nc)")
    require_writable(out.parent)
    dt = relabel(load(args.result), method=args.method)
    print(f"relabelled {dt.attrs.get('setting', Path(args.result).name)}: {describe_relabelling(relabelling_of(dt))}")
    print(f"wrote {save(dt, out)}")


def _singular(args: argparse.Namespace) -> None:
    from bayescmoe.results.datatree import load
    from bayescmoe.studies.singular import singular_report

    dt = load(args.result)
    sampler = {"num_warmup": args.num_warmup, "num_samples": args.num_samples, "num_chains": args.num_chains}
    report = singular_report(
        dt, key=args.seed, gamma=args.gamma, num_temperatures=args.temperatures, progress=True, **sampler
    )
    if args.json:
        print(report.to_json())
        return
    print(f"singular learning theory and evidence of {dt.attrs.get('setting', Path(args.result).name)}")
    print(report.render())


def _prompts(args: argparse.Namespace) -> None:
    from bayescmoe.results.data import read_data
    from bayescmoe.studies.prompts import choose_prompts, require_choice
    from bayescmoe.workflow.fitting import simulate_setting

    name, setting, spec = _source(args)
    require_choice(spec, args.max_prompts, args.criteria)
    out = None if args.out is None else Path(args.out)
    require(out is None or out.suffix == ".csv", "out", f"{out}: the table is written as .csv")
    if out is not None:
        require_writable(out.parent)
    if setting is None:
        x, y = read_data(args.data, spec, **columns_of(args))
    else:
        n = setting.n if args.n is None else args.n
        x, y, _ = simulate_setting(setting, n, args.seed)
    sampler = {"num_warmup": args.num_warmup, "num_samples": args.num_samples, "num_chains": args.num_chains}
    choice = choose_prompts(
        spec, x, y, max_prompts=args.max_prompts, criteria=args.criteria, key=args.seed, progress_bar=True, **sampler
    )
    print(f"how many prompts for {name} (n = {len(y)}; K = 0 is the frozen expert alone)")
    print(choice.render())
    if out is not None:
        print(f"wrote {atomic_write(out, lambda tmp: choice.table.to_csv(tmp))}")


#: the output types of ``bayescmoe predict``, by suffix
PREDICTION_SUFFIXES = (".csv", ".nc")


def write_predictions(predictions, path: Path) -> Path:
    """Write :func:`~bayescmoe.workflow.predicting.predict`'s Dataset atomically: NetCDF whole, or CSV one row
    per new row (its features and every per-row summary, a per-class one as ``<name>_<class>`` columns; the
    predictive draws stay in the NetCDF form)."""
    import csv

    from bayescmoe.results.datatree import compressed

    if path.suffix == ".nc":
        encoding = compressed(predictions)
        return atomic_write(path, lambda tmp: predictions.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))
    columns = {str(f): predictions["x"].sel(feature=f).values for f in predictions["feature"].values}
    columns |= {name: v.values for name, v in predictions.data_vars.items() if v.dims == ("obs",)}
    for name, v in predictions.data_vars.items():
        if v.dims == ("obs", "class"):
            columns |= {f"{name}_{c}": v.sel({"class": c}).values for c in predictions["class"].values}

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["row", *columns])
            out.writerows([i, *(repr(float(c[i])) for c in columns.values())] for i in range(predictions.sizes["obs"]))

    return atomic_write(path, write)


def _predict(args: argparse.Namespace) -> None:
    from bayescmoe.results.data import read_data
    from bayescmoe.results.datatree import features_of, load, spec_of
    from bayescmoe.workflow.predicting import predict

    out = Path(args.out)
    require(out.suffix in PREDICTION_SUFFIXES, "out", f"{out}: write .csv or .nc, one of {list(PREDICTION_SUFFIXES)}")
    dt = load(args.result)
    columns = columns_of(args)
    columns["features"] = columns["features"] or features_of(dt)  # by default, the names the result was fitted with
    inputs, y = read_data(args.data, spec_of(dt), require_y=False, **columns)
    require_writable(out.parent)
    predictions = predict(dt, inputs, y_new=y, method=args.method, ci_prob=args.ci_prob, key=args.seed)
    a = predictions.attrs
    print(f"predictions at {predictions.sizes['obs']} new rows ({args.method}, {a['ci_prob']:g} intervals)")
    if y is not None:
        print(
            f"held-out log predictive density: {a['elpd']:.2f} with the prompt, {a['elpd_frozen']:.2f} frozen expert "
            f"alone; difference {a['elpd_diff']:.2f} +/- {a['elpd_diff_se']:.2f}"
        )
    print(f"wrote {write_predictions(predictions, out)}")


def _plot(args: argparse.Namespace) -> None:
    from bayescmoe.plots.fit import plot_pair, plot_trace
    from bayescmoe.results.datatree import load

    dt = load(args.result)
    require("posterior" in dt.children, "result", f"{args.result} has no posterior: the plots draw a NUTS fit")
    stem = Path(args.result).stem
    out = require_writable(Path(args.out) if args.out else Path(args.result).parent)
    selected = {"var_names": args.var_names, "features": args.features}
    paths = [plot_trace(dt, out / f"{stem}-trace.png", **selected), plot_pair(dt, out / f"{stem}-pair.png", **selected)]
    print("wrote " + ", ".join(str(p) for p in paths))


def build_parser() -> argparse.ArgumentParser:
    """The ``bayescmoe`` argument parser."""
    parser = OneLineParser(prog="bayescmoe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"bayescmoe {version('bayescmoe')}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    sub.add_parser("list", help="list the named settings").set_defaults(func=_list)
    fit = sub.add_parser("fit", help="simulate and fit a setting, or fit a data file (MLE, MAP, NUTS)")
    fit.add_argument("setting", nargs="?", help="setting name (see 'bayescmoe list')")
    fit.add_argument("--config", help="TOML file describing spec, truth and data instead of a name")
    fit.add_argument(
        "--data",
        help="fit this CSV, .npz or NetCDF file (x1..xd, y[, h0, nu0]; y may hold class labels) instead of simulating",
    )
    add_run_arguments(fit)
    add_column_arguments(fit)
    fit.set_defaults(func=_fit)
    summary = sub.add_parser("summary", help="print the table of a saved result")
    summary.add_argument("result")
    summary.set_defaults(func=_summary)
    plot = sub.add_parser("plot", help="draw the trace and pair plots of a saved result")
    plot.add_argument("result")
    plot.add_argument("--out", default=None, help="directory for the figures (default: beside the result)")
    plot.add_argument(
        "--var-names",
        nargs="+",
        default=None,
        metavar="NAME",
        help="parameters to show (default: all in the trace plot; in the pair plot the scalars and the first "
        f"coordinates of a and beta, at most {PAIR_MAX} panels a side)",
    )
    plot.add_argument(
        "--features",
        nargs="+",
        default=None,
        metavar="F",
        help="features of a and beta to show (names, or positions 0..d-1)",
    )
    plot.set_defaults(func=_plot)
    predict = sub.add_parser("predict", help="predict at new rows of a data file from a saved result")
    predict.add_argument("result")
    predict.add_argument("--data", required=True, help="CSV, .npz or NetCDF of the new rows: x1..xd [, y, h0, nu0]")
    add_column_arguments(predict)
    predict.add_argument("--out", required=True, help="predictions.csv (one row per new row) or predictions.nc")
    predict.add_argument("--method", choices=("nuts", "map", "mle"), default="nuts", help="posterior or a point")
    predict.add_argument("--ci-prob", type=float, default=None, help="interval probability (default: ArviZ's)")
    predict.add_argument("--seed", type=seed, default=0, help="seed of the predictive draws")
    predict.set_defaults(func=_predict)
    collapse = sub.add_parser(
        "collapse",
        help="classify a saved NUTS fit: identified, prompt vanishing, prompt merging, prompt not needed "
        "(with --evidence), weakly identified",
    )
    collapse.add_argument("result")
    collapse.add_argument("--eps", type=float, default=None, help="gate 'near 0' level (default: 10 obs per param)")
    collapse.add_argument("--brief", action="store_true", help="omit the per-parameter table")
    collapse.add_argument(
        "--evidence",
        choices=("auto", "savage-dickey", "loo", "ladder", "none"),
        default="auto",
        help="the evidence for a prompt against the frozen expert alone: the result's own (auto: what fit "
        "stored, else Savage-Dickey for a constant gate and PSIS-LOO for a sigmoid gate), Savage-Dickey from "
        "the draws (constant gate, seconds), PSIS-LOO (any gate, seconds), stepping-stone over power posteriors "
        "(any gate, minutes), or none (the posterior alone)",
    )
    collapse.add_argument("--seed", type=seed, default=0, help="seed of the ladder's chains (--evidence ladder)")
    collapse.set_defaults(func=_collapse)
    relabel = sub.add_parser(
        "relabel",
        help="give every draw of a saved fit of K >= 2 prompts one labelling of its prompts (label switching); "
        "the raw draws stay in the group posterior_raw",
    )
    relabel.add_argument("result")
    relabel.add_argument("--out", required=True, help="the relabelled result (.nc)")
    relabel.add_argument(
        "--method",
        choices=("hungarian", "stephens"),
        default="hungarian",
        help="a quadratic loss on the parameters (hungarian) or Stephens' on the classification probabilities",
    )
    relabel.set_defaults(func=_relabel)
    singular = sub.add_parser(
        "singular", help="learning coefficient, WBIC, WAIC, log evidence and Bayes factor of a saved NUTS fit"
    )
    singular.add_argument("result")
    singular.add_argument("--json", action="store_true", help="print one JSON object")
    singular.add_argument("--seed", type=seed, default=0, help="seed of the tempered chains")
    singular.add_argument("--gamma", type=float, default=GAMMA, help=f"localiser precision (default {GAMMA})")
    singular.add_argument(
        "--temperatures", type=int, default=NUM_TEMPERATURES, help=f"evidence ladder steps (default {NUM_TEMPERATURES})"
    )
    singular.add_argument("--num-warmup", type=int, default=500, help="per tempered run")
    singular.add_argument("--num-samples", type=int, default=500, help="per tempered run")
    singular.add_argument("--num-chains", type=int, default=4, help="per tempered run")
    singular.set_defaults(func=_singular)
    _add_prompts_parser(sub)
    return parser


def _add_prompts_parser(sub) -> None:
    """``bayescmoe prompts``: how many prompts (:func:`~bayescmoe.studies.prompts.choose_prompts`)."""
    prompts = sub.add_parser("prompts", help="fit K = 1..K_max prompts to a setting or a data file and compare K")
    prompts.add_argument("setting", nargs="?", help="setting name (see 'bayescmoe list'); its data are simulated")
    prompts.add_argument("--config", help="TOML file of a spec (and truth, to simulate) instead of a name")
    prompts.add_argument("--data", help="compare on this CSV, .npz or NetCDF file instead of simulating")
    add_column_arguments(prompts)
    prompts.add_argument("--n", type=int, default=None, help="sample size when simulating (default: the setting's)")
    prompts.add_argument("--seed", type=seed, default=0, help="seed of data, starts and chains")
    prompts.add_argument("--max-prompts", type=int, default=3, help="K_max (default 3)")
    prompts.add_argument(
        "--criteria",
        nargs="+",
        choices=PROMPT_CRITERIA,
        default=PROMPT_CRITERIA[:4],
        help="criteria to score K by (default: %(default)s; 'evidence' runs about 33 NUTS fits per K)",
    )
    prompts.add_argument("--num-warmup", type=int, default=500, help="per NUTS run")
    prompts.add_argument("--num-samples", type=int, default=500, help="per NUTS run")
    prompts.add_argument("--num-chains", type=int, default=4, help="per NUTS run")
    prompts.add_argument("--out", default=None, help="write the table to this .csv")
    prompts.set_defaults(func=_prompts)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: parses the command (no JAX loaded for ``--help`` or a usage error), configures
    the runtime (:func:`bayescmoe.runtime.configure`), then runs it; the command's modules load on the way."""
    parser = build_parser()

    def run() -> None:
        args = parser.parse_args(argv)
        configure()
        args.func(args)

    return guarded(run)
