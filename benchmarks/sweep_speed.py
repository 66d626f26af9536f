"""Speed of the sweep engine against a naive per-fit EM baseline (NumPy + SciPy BFGS), on the same cells.

    python benchmarks/sweep_speed.py                                    # P2 settings x 4 sizes x 2 replicates
    python benchmarks/sweep_speed.py --n 1000 5456 --replicates 1       # a smaller product
    python benchmarks/sweep_speed.py --cells p2-merging-eta:29764:0     # explicit SETTING:N[:REPLICATE] cells

The baseline mirrors how the papers computed the MLE (PAPERS.md section 4): one fit at a time, EM in
NumPy/SciPy, written independently of the package's JAX code (it only reads the spec's fields):
- E-step: responsibilities r = expit(log w N - log (1 - w) f0), in log space, densities from scipy.stats;
- M-step: constant gate lam = mean(r); sigmoid gate by ``scipy.optimize.minimize(method="BFGS")`` on the
  weighted logistic loss in (beta, tau); prompt mean parameters by BFGS on the weighted squared error
  (also for linear experts, as a naive user would), nu = the weighted mean squared residual. BFGS gets
  SciPy's finite-difference gradients (no ``jac``) unless ``--analytic-gradients``, and ``--gtol``
  (default: the inner tolerance of our EM, so that both solve the M-steps equally well);
- iterations until the mean log-likelihood changes by less than 1e-10, or ``--baseline-max-iter``.

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
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from scipy import optimize, special, stats

import bayescmoe
from bayescmoe.inference.em import INNER_TOL
from bayescmoe.model.params import constrain
from bayescmoe.model.settings import Setting, get_setting
from bayescmoe.model.spec import ModelSpec
from bayescmoe.studies import sweep
from bayescmoe.studies.protocols import get_protocol

Params = dict[str, np.ndarray]

#: the non-identified setting (the gate runs off to infinity along a flat ridge): reported apart
RIDGE_SETTING = "p2-merging-nu-e1"
DEFAULT_N = (1000, 5456, 29764, 100000)

# --------------------------------------------------------------------------------------------
# the baseline: EM in NumPy/SciPy
# --------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "linear": lambda z: z,
    "sigmoid": special.expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "gelu": lambda z: z * special.ndtr(z),
}
#: their derivatives (``--analytic-gradients``)
SLOPES = {
    "linear": np.ones_like,
    "sigmoid": lambda z: special.expit(z) * special.expit(-z),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(float),
    "gelu": lambda z: special.ndtr(z) + z * stats.norm.pdf(z),
}


class BaselineFit(NamedTuple):
    """Outcome of :func:`baseline_em`: estimate, mean log-likelihood, M-steps done, convergence."""

    params: Params
    mean_loglik: float
    n_iter: int
    converged: bool


def frozen_logpdf(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log f0(y | h0(x), nu0) by scipy.stats; nu0 a variance (Laplace scale sqrt(nu0/2), t sqrt(nu0 (df-2)/df))."""
    f = spec.frozen
    mean = ACTIVATIONS[f.mean](x @ np.asarray(f.weight) + (f.bias or 0.0))
    if f.family == "gaussian":
        return stats.norm.logpdf(y, mean, np.sqrt(f.nu))
    if f.family == "laplace":
        return stats.laplace.logpdf(y, mean, f.nu if f.laplace_reading == "scale" else np.sqrt(f.nu / 2))
    return stats.t.logpdf(y, f.df, mean, np.sqrt(f.nu * (f.df - 2) / f.df))


def _mean_coef(spec: ModelSpec, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """The prompt's mean parameters as one vector (a, [b])."""
    return np.append(params["a"], params["b"]) if spec.prompt.bias else np.asarray(params["a"])


def _prompt_logit(spec: ModelSpec, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """a.x [+ b] from (a, [b])."""
    return x @ coef[: x.shape[1]] + (coef[-1] if spec.prompt.bias else 0.0)


def _log_components(
    spec: ModelSpec, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray, log_f0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(log (1 - w) f0, log w N) per row."""
    if spec.gate == "constant":
        lam = np.full(len(y), params["lam"])
        log_w, log_1mw = np.log(lam), np.log1p(-lam)
    else:
        z = x @ params["beta"] + params["tau"]
        log_w, log_1mw = special.log_expit(z), special.log_expit(-z)
    mean = ACTIVATIONS[spec.prompt.mean](_prompt_logit(spec, _mean_coef(spec, params), x))
    return log_1mw + log_f0, log_w + stats.norm.logpdf(y, mean, np.sqrt(params["nu"]))


def log_likelihood(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pointwise log p(y_i | x_i) = logaddexp of the two weighted components."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    return np.logaddexp(*_log_components(spec, params, x, y, frozen_logpdf(spec, x, y)))


def _gate_loss(v: np.ndarray, x: np.ndarray, r: np.ndarray) -> float:
    """-(1/n) sum [r log w + (1 - r) log(1 - w)] of the sigmoid gate, v = (beta, tau)."""
    z = x @ v[:-1] + v[-1]
    return -np.mean(r * special.log_expit(z) + (1 - r) * special.log_expit(-z))


def _gate_grad(v: np.ndarray, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    g = special.expit(x @ v[:-1] + v[-1]) - r
    return np.append(x.T @ g, g.sum()) / len(r)


def _prompt_loss(v: np.ndarray, spec: ModelSpec, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> float:
    """Weighted mean squared error sum r (y - h(x))^2 / sum r, v = (a, [b])."""
    return np.sum(r * (y - ACTIVATIONS[spec.prompt.mean](_prompt_logit(spec, v, x))) ** 2) / np.sum(r)


def _prompt_grad(v: np.ndarray, spec: ModelSpec, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    z = _prompt_logit(spec, v, x)
    g = -2 * r * (y - ACTIVATIONS[spec.prompt.mean](z)) * SLOPES[spec.prompt.mean](z) / np.sum(r)
    return np.append(x.T @ g, g.sum()) if spec.prompt.bias else x.T @ g


def m_step(
    spec: ModelSpec,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    gtol: float = INNER_TOL,
    analytic: bool = False,
) -> Params:
    """argmax of the expected complete-data log-likelihood: gate and prompt parts apart, BFGS from ``params``."""
    options = {"gtol": gtol}
    if spec.gate == "constant":
        new = {"lam": np.mean(r)}
    else:
        v0 = np.append(params["beta"], params["tau"])
        v = optimize.minimize(_gate_loss, v0, (x, r), "BFGS", _gate_grad if analytic else None, options=options).x
        new = {"beta": v[:-1], "tau": v[-1]}
    args = (spec, x, y, r)
    jac = _prompt_grad if analytic else None
    v = optimize.minimize(_prompt_loss, _mean_coef(spec, params), args, "BFGS", jac, options=options).x
    new["a"] = v[: x.shape[1]]
    if spec.prompt.bias:
        new["b"] = v[-1]
    new["nu"] = _prompt_loss(v, *args)
    return new


def baseline_em(
    spec: ModelSpec,
    params0: Mapping[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    max_iter: int = 2000,
    tol: float = 1e-10,
    *,
    gtol: float = INNER_TOL,
    analytic: bool = False,
    budget: float = np.inf,
) -> BaselineFit:
    """EM from ``params0`` until the mean log-likelihood changes by less than ``tol``.

    Stops unconverged after ``max_iter`` M-steps or after the M-step that ends past ``budget`` seconds.
    """
    start = time.perf_counter()
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    params = {k: np.asarray(v, dtype=float) for k, v in params0.items()}
    log_f0 = frozen_logpdf(spec, x, y)  # the frozen expert never changes
    components = _log_components(spec, params, x, y, log_f0)
    ll, it, done = np.mean(np.logaddexp(*components)), 0, False
    while not done and np.isfinite(ll) and it < max_iter and time.perf_counter() - start < budget:
        r = special.expit(components[1] - components[0])  # E-step: w N / ((1 - w) f0 + w N)
        params = m_step(spec, params, x, y, r, gtol, analytic)
        components = _log_components(spec, params, x, y, log_f0)
        new = np.mean(np.logaddexp(*components))
        it, done, ll = it + 1, bool(abs(new - ll) < tol), new
    return BaselineFit(params, float(ll), it, done)


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
    at_truth = float(np.sum(log_likelihood(setting.spec, truth, x, y)))
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
