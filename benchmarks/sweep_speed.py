"""Speed of the sweep engine against a naive per-fit EM baseline (NumPy + SciPy BFGS), on the same cells.

    python benchmarks/sweep_speed.py                                    # P2 settings x 4 sizes x 2 replicates
    python benchmarks/sweep_speed.py --n 1000 5456 --replicates 1       # a smaller product
    python benchmarks/sweep_speed.py --cells p2-merging-eta:29764:0     # explicit SETTING:N[:REPLICATE] cells

The baseline mirrors how the papers computed the MLE: one fit at a time, EM in NumPy/SciPy, written
independently of the package's JAX code (``baseline_em`` of ``tests/reference.py``, which the tests
check against the package's EM): responsibilities in log space with densities from scipy.stats,
BFGS M-steps with SciPy's finite-difference gradients unless ``--analytic-gradients``, and
``--gtol`` (default: the inner tolerance of our EM, so that both solve the M-steps equally well);
iterations until the mean log-likelihood changes by less than 1e-10, or ``--baseline-max-iter``.

Per cell (setting, n, replicate) it measures:
- ours: the wall time of ``sweep.fit_cell`` (the whole cell: simulation, fit, errors, losses,
  log-likelihoods) with ``SweepConfig()`` (``direct``, preconditioned L-BFGS) and with
  ``SweepConfig(estimator="em")``, best of ``--repeats`` calls after a first call on the same cell; the
  first call's extra time is JIT compilation, reported apart (about 0 once a cell of the same padded
  size and setting has compiled);
- baseline: the wall time of :func:`baseline_em` alone, on the very data and start ``fit_cell`` uses
  (checked: both log-likelihoods at the truth agree);
- ratio = baseline / ours, and the final total log-likelihoods (ours: the record's ``loglik_hat``; the
  baseline's: its own NumPy log-likelihood) and their difference.
A baseline stopped by ``--baseline-budget`` seconds (or the iteration cap) before converging is marked
``*``: its time to converge is extrapolated, explicitly, as seconds per iteration x our EM's iteration
count on the cell (``~``), and its log-likelihood is left out of the comparison.

Other processes sharing the cores inflate absolute times; the fits of a cell run back to back
(interleaved), so the ratios stay comparable.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import bayescmoe
from bayescmoe.inference.em import INNER_TOL
from bayescmoe.model.params import constrain
from bayescmoe.model.settings import Setting, get_setting
from bayescmoe.studies import sweep
from bayescmoe.studies.protocols import get_protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the references the tests check
from helpers import ref_log_likelihood
from reference import Params, baseline_em

#: the non-identified setting (the gate runs off to infinity along a flat ridge): reported apart
RIDGE_SETTING = "p2-merging-nu-e1"
DEFAULT_N = (1000, 5456, 29764, 100000)

# --------------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------------


def cell_problem(
    setting: Setting, n: int, replicate: int, config: sweep.SweepConfig
) -> tuple[np.ndarray, np.ndarray, Params, Params]:
    """(x, y, truth, start) of a cell exactly as :func:`bayescmoe.studies.sweep.fit_cell` makes them (init = truth)."""
    cell = sweep.simulate_cell(setting, n, replicate, config)
    start = constrain(cell.spec, cell.starts[0])
    x, y = np.asarray(cell.x)[:n], np.asarray(cell.y)[:n]
    return x, y, cell.truth, {k: np.asarray(v) for k, v in start.items()}


def time_ours(setting: Setting, n: int, replicate: int, config: sweep.SweepConfig, repeats: int) -> dict[str, float]:
    """The cell record's values plus warm ``seconds`` (best of ``repeats``) and ``compile`` seconds."""
    begin = time.perf_counter()
    sweep.fit_cell(setting, n, replicate, config)
    cold = time.perf_counter() - begin
    warm = []
    for _ in range(repeats):
        begin = time.perf_counter()
        record = sweep.fit_cell(setting, n, replicate, config)
        warm.append(time.perf_counter() - begin)
    return {**record["values"], "seconds": min(warm), "compile": max(cold - min(warm), 0.0)}


def run_cell(setting: Setting, n: int, replicate: int, args: argparse.Namespace) -> dict[str, Any]:
    """Time ours (direct, em) and the baseline on one cell; their final log-likelihoods."""
    direct = time_ours(setting, n, replicate, sweep.SweepConfig(), args.repeats)
    em = time_ours(setting, n, replicate, sweep.SweepConfig(estimator="em"), args.repeats)
    x, y, truth, start = cell_problem(setting, n, replicate, sweep.SweepConfig())
    at_truth = float(np.sum(ref_log_likelihood(setting.spec, truth, x, y)))
    if not np.isclose(at_truth, direct["loglik_true"], rtol=1e-9):
        raise AssertionError(f"{setting.name} n={n}: not the cell's data ({at_truth} vs {direct['loglik_true']})")
    begin = time.perf_counter()
    fit = baseline_em(
        setting.spec,
        start,
        x,
        y,
        args.baseline_max_iter,
        gtol=args.gtol,
        analytic=args.analytic_gradients,
        budget=args.baseline_budget,
    )
    seconds = time.perf_counter() - begin
    stopped = not fit.converged and np.isfinite(fit.mean_loglik)
    needed = max(em["n_iter"], fit.n_iter) if stopped else fit.n_iter
    baseline = {
        "seconds": seconds,
        "estimate": seconds / fit.n_iter * needed,
        "stopped": stopped,
        "n_iter": fit.n_iter,
        "loglik": n * fit.mean_loglik,
    }
    return {"setting": setting.name, "n": n, "replicate": replicate, "direct": direct, "em": em, "baseline": baseline}


HEADER = (
    "| setting | n | rep | ours direct s (compile) | ours EM s (it., compile) | baseline s (it.) "
    "| ratio vs direct | ratio vs EM | loglik ours direct | loglik ours EM | loglik baseline "
    "| baseline - direct | baseline - EM |\n" + "|---" * 13 + "|"
)


def row(cell: dict[str, Any]) -> str:
    """One markdown table row."""
    d, e, b = cell["direct"], cell["em"], cell["baseline"]
    mark = "*" if b["stopped"] else ""
    baseline = f"{b['seconds']:.2f} ({b['n_iter']}){mark}" + (f" ~{b['estimate']:.0f}" if b["stopped"] else "")
    diffs = [f"{b['loglik'] - o['loglik_hat']:+.1e}" if not b["stopped"] else "-" for o in (d, e)]
    cols = [
        cell["setting"],
        cell["n"],
        cell["replicate"],
        f"{d['seconds']:.3f} ({d['compile']:.1f})",
        f"{e['seconds']:.3f} ({int(e['n_iter'])}, {e['compile']:.1f})",
        baseline,
        f"{b['estimate'] / d['seconds']:.0f}{mark}",
        f"{b['estimate'] / e['seconds']:.0f}{mark}",
        f"{d['loglik_hat']:.4f}",
        f"{e['loglik_hat']:.4f}",
        f"{b['loglik']:.4f}{mark}",
        *diffs,
    ]
    return "| " + " | ".join(str(c) for c in cols) + " |"


def summary(cells: list[dict[str, Any]]) -> str:
    """Median speed ratios; largest |log-likelihood difference| (the ridge setting apart, stopped baselines out)."""
    measured = [c for c in cells if not c["baseline"]["stopped"]]

    def ratios(chosen: list[dict[str, Any]]) -> str:
        med = [statistics.median(c["baseline"]["estimate"] / c[k]["seconds"] for c in chosen) for k in ("direct", "em")]
        return f"{med[0]:.0f}x (direct), {med[1]:.0f}x (EM)"

    def max_diff(ridge: bool) -> str:
        chosen = [c for c in measured if (c["setting"] == RIDGE_SETTING) == ridge]
        if not chosen:
            return "n/a"
        diffs = [max(abs(c["baseline"]["loglik"] - c[k]["loglik_hat"]) for c in chosen) for k in ("direct", "em")]
        return f"{diffs[0]:.1e} vs direct, {diffs[1]:.1e} vs EM"

    text = f"median speed ratio baseline / ours: {ratios(cells)} over {len(cells)} cells"
    if len(measured) < len(cells):
        text += f" ({len(cells) - len(measured)} extrapolated, *)"
        text += f"; {ratios(measured)} over the {len(measured)} measured ones" if measured else ""
    return (
        f"{text}\nmax |loglik baseline - ours|: {max_diff(False)} (identified settings); "
        f"{max_diff(True)} ({RIDGE_SETTING}, flat ridge); stopped baselines left out"
    )


def parse_cells(args: argparse.Namespace) -> list[tuple[Setting, int, int]]:
    """The cells: ``--cells`` if given, else n x settings x replicates."""
    if args.cells:
        cells = []
        for item in args.cells:
            name, n, *rep = item.split(":")
            cells.append((get_setting(name), int(n), int(rep[0]) if rep else 0))
        return cells
    return [(get_setting(s), n, r) for n in args.n for s in args.settings for r in range(args.replicates)]


def main() -> None:
    protocol = get_protocol("p2")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", metavar="SETTING:N[:REP]", help="explicit cells (instead of the product)")
    parser.add_argument("--settings", nargs="+", default=list(protocol.settings), help="default: the P2 protocol's")
    parser.add_argument("--n", nargs="+", type=int, default=list(DEFAULT_N), help="sample sizes (P2 grid points)")
    parser.add_argument("--replicates", type=int, default=2, help="replicates 0..R-1 of each (setting, n)")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls of ours per cell; the best counts")
    parser.add_argument("--baseline-max-iter", type=int, default=2000, help="EM iteration cap of the baseline")
    parser.add_argument("--baseline-budget", type=float, default=np.inf, help="seconds after which it stops")
    parser.add_argument("--gtol", type=float, default=INNER_TOL, help="BFGS gradient tolerance of the M-steps")
    parser.add_argument("--analytic-gradients", action="store_true", help="give BFGS analytic gradients")
    args = parser.parse_args()
    cells = parse_cells(args)
    off_grid = sorted({n for _, n, _ in cells} - set(protocol.n_grid))
    gradients = "analytic" if args.analytic_gradients else "finite-difference"
    print(
        f"baseline: NumPy/SciPy EM, BFGS M-steps with {gradients} gradients, gtol {args.gtol:g}, "
        f"at most {args.baseline_max_iter} iterations / {args.baseline_budget:g} s per cell"
        + (f"; n = {off_grid} not on the P2 grid" if off_grid else "")
        + "\n"
    )
    print(HEADER, flush=True)
    cells_done = []
    for setting, n, replicate in cells:
        cells_done.append(run_cell(setting, n, replicate, args))
        print(row(cells_done[-1]), flush=True)
    print("\n" + summary(cells_done))


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    main()
