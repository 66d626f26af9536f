"""The solver stress suite: does any MLE started near the truth end below the truth's log-likelihood?

A grid over the frozen expert's noise level nu0, its family (Gaussian, Laplace, Student-t(5)), the
gate (constant, P1; sigmoid, P2), the merging distance Delta and n. Each cell's model (d = 8):

- constant gate: linear experts with bias, frozen a0 = e1, b0 = 0; truth lam* = 0.4,
  (a*, b*, nu*) = (e1 + Delta e2, Delta, nu0 (1 + Delta)) (P1's merging move);
- sigmoid gate: tanh experts without bias, frozen eta0 = e1; truth beta* = 1_8 / sqrt(8), tau* = 1,
  eta* = e1 (1 + Delta), nu* = nu0 (P2's (b-i) move).

At Delta = 0 with a Gaussian f0 the prompt *is* the frozen expert: the gate is not identified and
the likelihood is flat along it, the hardest case for a solver; Laplace and Student-t f0 are the
distinguishable controls. Every cell draws its data and its start as a rate sweep does
(:func:`bayescmoe.studies.sweep.simulate_cell`: the truth perturbed by N(0, 0.1^2) on the
unconstrained scale) and fits them three ways (:data:`SOLVERS`): our preconditioned L-BFGS, the same
L-BFGS without preconditioning, and EM. Recorded per solver: log-likelihood, iterations, why it
stopped, the flags of :func:`bayescmoe.studies.sweep.fit_record`; per cell: the log-likelihood of the
truth and of the start. :func:`stress_summary` gives, per solver, the share of fits below the truth
(beyond :data:`~bayescmoe.studies.sweep.BELOW_TRUTH_TOL` per observation) and the median and worst
shortfall against the best of the three on the same data.

Two more factors, off by default: the prompts' family (Gaussian; Laplace or Student-t(5), which merge
only into an f0 of their family) and their number K (1 or 2). With K = 2 the prompts move in mirror
image, each with half the weight of one: constant gate lam* = (0.2, 0.2), (a*_k, b*_k) =
(e1 +- Delta e2, +-Delta), nu*_k = nu0 (1 + Delta); sigmoid (softmax) gate beta*_k = +-1_8 / sqrt(8),
tau*_k = 1 - log 2 (the prompts' total weight at x = 0 that of one at tau = 1), eta*_k = e1 (1 +- Delta),
nu*_k = nu0. EM is left out where it refuses the prompts (Laplace ones).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.errors import BayescmoeError, require, require_positive_ints
from bayescmoe.inference.em import check_em
from bayescmoe.inference.optimize import objective
from bayescmoe.model.settings import Setting
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.model.truth import Truth
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.studies.sweep import STOP_NAMES, SweepConfig, fit_record, fit_starts, simulate_cell

D = 8
SOLVERS = ("direct", "plain", "em")
FAMILIES = ("gaussian", "laplace", "student_t")
GATES = ("constant", "sigmoid")
PER_SOLVER = ("loglik_hat", "converged", "stop", "degenerate", "below_truth", "n_iter", "seconds")
PER_CELL = ("loglik_true", "loglik_start")


def stress_setting(family: str, gate: str, nu0: float, delta: float, prompt: str = "gaussian", k: int = 1) -> Setting:
    """The cell (family, gate, nu0, Delta) of the module docstring, with K = ``k`` prompts of family ``prompt``, as
    a :class:`Setting` named after it (the name gains ``-prompt=<family>`` and ``-K=<k>`` off the defaults)."""
    require(family in FAMILIES, "families", f"unknown family {family!r}; choose from {list(FAMILIES)}")
    require(prompt in FAMILIES, "prompt_families", f"unknown family {prompt!r}; choose from {list(FAMILIES)}")
    require(gate in GATES, "gates", f"unknown gate {gate!r}; choose from {list(GATES)}")
    require(k in (1, 2), "prompts", f"the stress cells have 1 or 2 prompts, got {k!r}")
    e1, e2 = np.eye(D)[:2]
    df = 5.0 if family == "student_t" else None
    prompt_df = 5.0 if prompt == "student_t" else None
    sign = np.array([1.0, -1.0]) if k == 2 else np.array(1.0)  # the two prompts' mirror-image moves
    row = sign[..., None]  # the same, one per row of a (K, d) parameter
    if gate == "constant":
        frozen = FrozenExpert(family, "linear", tuple(e1), 0.0, nu0, df)
        experts = PromptExpert("linear", bias=True, family=prompt, df=prompt_df)
        truth = {"lam": 0.4 / k, "a": e1 + row * delta * e2, "b": sign * delta, "nu": nu0 * (1 + delta)}
    else:
        frozen = FrozenExpert(family, "tanh", tuple(e1), None, nu0, df)
        experts = PromptExpert("tanh", bias=False, family=prompt, df=prompt_df)
        tau = 1.0 if k == 1 else 1.0 - np.log(2.0)
        truth = {"beta": row * np.full(D, D**-0.5), "tau": tau, "a": e1 * (1 + row * delta), "nu": nu0}
    spec = ModelSpec(frozen, [experts] * k, gate)
    truth = {name: np.broadcast_to(value, spec.shape(name)) for name, value in truth.items()}
    name = f"{family}-{gate}-nu0={nu0:g}-delta={delta:g}"
    name += ("" if prompt == "gaussian" else f"-prompt={prompt}") + ("" if k == 1 else f"-K={k}")
    return Setting(name, "stress", f"{family} f0, {gate} gate", name, spec, Truth(truth))


@dataclass(frozen=True)
class StressConfig:
    """The grid and the solvers' settings (stored with the results; resuming needs the same config)."""

    nu0: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)
    families: tuple[str, ...] = FAMILIES
    gates: tuple[str, ...] = GATES
    deltas: tuple[float, ...] = (1.0, 0.3, 0.1, 0.0)
    prompt_families: tuple[str, ...] = ("gaussian",)
    prompts: tuple[int, ...] = (1,)
    n_grid: tuple[int, ...] = (1000, 10_000, 100_000)
    replicates: int = 1
    solver: SweepConfig = field(default_factory=SweepConfig)
    #: EM (thousands of iterations, inner L-BFGS M-steps) is left out above this n
    em_max_n: int = 1_000_000

    def __post_init__(self) -> None:
        require(all(v > 0 for v in self.nu0), "nu0", "noise variances must be positive")
        require(all(v >= 0 for v in self.deltas), "deltas", "merging distances must be >= 0")
        require_positive_ints(replicates=self.replicates, **{f"n_grid[{i}]": n for i, n in enumerate(self.n_grid)})
        for family, gate, prompt, k in itertools.product(self.families, self.gates, self.prompt_families, self.prompts):
            stress_setting(family, gate, 1.0, 0.0, prompt, k)  # names the field of an unknown factor

    @property
    def settings(self) -> dict[str, Setting]:
        """Every cell of the grid, by name."""
        cells = itertools.product(self.families, self.gates, self.nu0, self.deltas, self.prompt_families, self.prompts)
        return {s.name: s for s in (stress_setting(*cell) for cell in cells)}


def em_refused(spec: ModelSpec) -> bool:
    """Whether EM refuses ``spec`` (:func:`~bayescmoe.inference.em.check_em`: a Laplace prompt)."""
    try:
        check_em(spec)
    except BayescmoeError:
        return True
    return False


def fit_stress_cell(setting: Setting, n: int, replicate: int, config: StressConfig) -> dict[str, Any]:
    """Simulate one cell and fit it with each of :data:`SOLVERS` from the same start (EM left out above
    ``config.em_max_n`` and where it refuses the prompts)."""
    cell = simulate_cell(setting, n, replicate, config.solver)
    per: dict[str, list[float]] = {name: [] for name in PER_SOLVER}
    for solver in SOLVERS:
        if solver == "em" and (n > config.em_max_n or em_refused(cell.spec)):
            for name in PER_SOLVER:
                per[name].append(float("nan"))
            continue
        start = time.perf_counter()
        fit = fit_starts(cell.spec, cell.starts, cell.x, cell.y, cell.mask, cell.min_nu, solver, config.solver)
        record = fit_record(fit, cell.loglik_true, n)
        record["seconds"] = time.perf_counter() - start
        for name in PER_SOLVER:
            per[name].append(record[name])
    loglik_start = -n * float(objective(cell.starts[0], cell.spec, cell.x, cell.y, cell.mask))
    values = {**per, "loglik_true": cell.loglik_true, "loglik_start": loglik_start}
    return {"setting": setting.name, "n": n, "replicate": replicate, "values": values}


def new_dataset(config: StressConfig) -> xr.Dataset:
    """All-NaN store: :data:`PER_SOLVER` fields on (setting, n, replicate, solver), :data:`PER_CELL` per cell."""
    attrs = {"config": json.dumps(asdict(config), sort_keys=True), "stop_names": json.dumps(STOP_NAMES)}
    settings = list(config.settings)
    return labelled_dataset(
        settings, config.n_grid, config.replicates, SOLVERS, PER_SOLVER, PER_CELL, attrs, label_dim="solver"
    )


def run_stress(config: StressConfig, out: str | Path, *, progress: bool = True) -> xr.Dataset:
    """Run (or resume) every unfinished cell of ``config``, saving to ``out``; returns the store."""
    out = Path(out)
    ds = open_store(out, new_dataset(config))
    settings = config.settings

    last_spec: ModelSpec | None = None

    def fit(s: str, n: int, r: int) -> dict[str, Any]:
        # keeping every cell's compiled programs exhausted LLVM's memory mappings after about 270
        # cells (1000+ executables): drop them whenever the spec changes (cells that differ only in
        # Delta or the replicate share a spec and reuse them)
        nonlocal last_spec
        if last_spec is not None and last_spec != settings[s].spec:
            jax.clear_caches()
        last_spec = settings[s].spec
        return fit_stress_cell(settings[s], n, r, config)

    return run_cells(ds, out, fit, "stress", progress=progress)


def cell_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (cell, n, replicate, solver) of the finished cells, with the grid factors and shortfalls.

    ``shortfall`` is the best log-likelihood of the three solvers on that data minus this solver's;
    ``below`` is the truth's log-likelihood minus this solver's (positive: the fit ended below the truth).
    """
    frame = ds.drop_vars("done").where(ds["done"] == 1).to_dataframe().dropna(subset=["loglik_hat"]).reset_index()
    best = frame.groupby(["setting", "n", "replicate"])["loglik_hat"].transform("max")
    frame["shortfall"] = best - frame["loglik_hat"]
    frame["below"] = frame["loglik_true"] - frame["loglik_hat"]
    frame["stop_reason"] = [json.loads(ds.attrs["stop_names"])[int(c)] for c in frame["stop"]]
    parts = frame["setting"].str.extract(
        r"^(?P<family>[a-z_]+)-(?P<gate>[a-z]+)-nu0=(?P<nu0>[^-]+)-delta=(?P<delta>.+?)"
        r"(?:-prompt=(?P<prompt>[a-z_]+))?(?:-K=(?P<prompts>\d+))?$"
    )
    parts = parts.fillna({"prompt": "gaussian", "prompts": "1"})
    return pd.concat([frame, parts.astype({"nu0": float, "delta": float, "prompts": int})], axis=1)


def stress_summary(ds: xr.Dataset, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per solver (and the grid factors ``by``): fits, share below the truth, share converged, shortfalls."""
    table = cell_table(ds)
    grouped = table.groupby(["solver", *by], sort=False)
    return pd.DataFrame(
        {
            "fits": grouped.size(),
            "below_truth": grouped["below_truth"].mean(),
            "worst_below_truth": grouped["below"].max(),
            "converged": grouped["converged"].mean(),
            "median_shortfall": grouped["shortfall"].median(),
            "worst_shortfall": grouped["shortfall"].max(),
            "median_seconds": grouped["seconds"].median(),
        }
    )
