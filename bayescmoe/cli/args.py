"""Argument parsing shared by every command: one-line usage errors, the run and cluster flags, exit statuses.

A :class:`~bayescmoe.errors.BayescmoeError` (bad input, naming its field) becomes one line on
stderr and exit status 2 (:func:`guarded`); a warning, one line on stderr; Ctrl-C, exit status 130.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bayescmoe.defaults import POINTWISE_DTYPES
from bayescmoe.errors import BayescmoeError
from bayescmoe.files import require_writable

if TYPE_CHECKING:
    from bayescmoe.studies.engine import Cluster


#: the seeds JAX can turn into a key (a 64-bit signed integer)
SEED_RANGE = (-(2**63), 2**63 - 1)


def seed(text: str) -> int:
    """The type of every ``--seed`` flag: an integer JAX can make a key of."""
    value = int(text)
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"{text} is not a seed: use an integer from -2**63 to 2**63 - 1")
    return value


def sizes(text: str) -> tuple[float, float, int]:
    """``LO,HI,NUM`` of a ``--sizes`` flag: NUM log-spaced sample sizes from LO to HI."""
    try:
        lo, hi, num = text.split(",")
        return float(lo), float(hi), int(num)
    except ValueError:
        raise BayescmoeError("sizes", f"expected LO,HI,NUM such as 1e4,1e6,12, got {text!r}") from None


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BayescmoeError("arguments", message)


def add_run_arguments(parser: argparse.ArgumentParser, out: str = "results", n: int | None = None) -> None:
    """The flags shared by ``bayescmoe fit`` and every ``models/`` script (``n``: the default sample size)."""
    size = "the setting's" if n is None else n
    parser.add_argument("--n", type=int, default=n, help=f"sample size (default: {size})")
    parser.add_argument("--seed", type=seed, default=0, help="seed of data, starts and chains")
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--num-chains", type=int, default=4)
    parser.add_argument("--init", choices=("map", "prior"), default="map", help="where NUTS chains start")
    parser.add_argument("--no-log-likelihood", action="store_true", help="do not store the pointwise log-lik")
    parser.add_argument("--no-predictive", action="store_true", help="no prior and posterior predictive groups")
    parser.add_argument(
        "--thin", type=int, default=1, help="keep every k-th draw in the log-likelihood and posterior predictive"
    )
    parser.add_argument(
        "--pointwise-dtype",
        choices=POINTWISE_DTYPES,
        default=POINTWISE_DTYPES[0],
        help=f"precision of the pointwise groups on disk ({POINTWISE_DTYPES[1]}: half the file; default: %(default)s)",
    )
    parser.add_argument("--out", default=out, help="output directory (DataTree .nc and figures)")
    parser.add_argument("--no-plots", action="store_true", help="skip the trace and pair plots")


def add_column_arguments(parser: argparse.ArgumentParser) -> None:
    """Which columns of a ``--data`` file are what (:func:`~bayescmoe.results.data.read_data`; :func:`columns_of`)."""
    names = lambda text: tuple(n.strip() for n in text.split(",") if n.strip())  # noqa: E731
    parser.add_argument(
        "--features", type=names, default=None, help="feature columns, comma-separated (default x1..xd)"
    )
    parser.add_argument("--target", default="y", help="the target column (default y)")
    parser.add_argument(
        "--h0",
        default="h0",
        help="the frozen expert's predictions, where the spec says given (a classifier's C class probabilities: "
        "comma-separated columns, or a prefix P naming P_0..P_{C-1}; default h0_0..)",
    )
    parser.add_argument("--nu0", default="nu0", help="the frozen expert's variances, where the spec says given")
    parser.add_argument("--ignore", type=names, default=(), help="columns to skip, comma-separated")
    parser.add_argument("--delimiter", default=None, help="the CSV delimiter (default: found from the header)")


def columns_of(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~bayescmoe.results.data.read_data` that :func:`add_column_arguments` set."""
    keys = ("features", "target", "h0", "nu0", "ignore", "delimiter")
    return {key: getattr(args, key) for key in keys}


def add_output_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """``--seed`` and ``--out`` (default ``out``), the flags every analysis command shares."""
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", default=out, help="output directory")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` and ``--workers`` of the sweep, study and SBC commands (:func:`cluster_of`)."""
    parser.add_argument(
        "--scheduler",
        default=None,
        help="fit the cells on a Dask cluster: 'local' (a LocalCluster of worker processes, the default with "
        "--workers) or tcp://HOST:PORT of a running scheduler (default: all in this process)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes of --scheduler local (default: one per core)"
    )


def cluster_of(args: argparse.Namespace) -> Cluster | None:
    """The Dask cluster that ``--scheduler`` and ``--workers`` name (checked), or None to run serially."""
    from bayescmoe.studies.engine import LOCAL, Cluster

    if args.scheduler is None and args.workers is None:
        return None
    return Cluster(args.scheduler or LOCAL, args.workers)


def parse_checked(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` and check, before any work, that ``--out`` can be written."""
    args = parser.parse_args(argv)
    require_writable(args.out)
    return args


def fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`bayescmoe.fit` that the run flags set."""
    return {
        "num_warmup": args.num_warmup,
        "num_samples": args.num_samples,
        "num_chains": args.num_chains,
        "nuts_init": args.init,
        "log_likelihood": not args.no_log_likelihood,
        "predictive": not args.no_predictive,
        "prior_draws": 0 if args.no_predictive else 500,
        "pointwise_thin": args.thin,
    }


def _one_line_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    print(f"bayescmoe: warning: {message}", file=sys.stderr)


def guarded(action: Callable[[], object]) -> int:
    """Run ``action``; a :class:`BayescmoeError` becomes one stderr line and exit status 2, and every warning
    (a :class:`~bayescmoe.errors.FitWarning` among them) one ``bayescmoe: warning:`` line on stderr."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            action()
    except BayescmoeError as err:
        print(f"bayescmoe: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bayescmoe: interrupted", file=sys.stderr)
        return 130
    return 0
