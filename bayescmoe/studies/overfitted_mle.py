"""An extra prompt for the MLE: how fast does the fitted mixing measure converge? (docs/open-questions.md:
*2. An extra prompt for the MLE: how slow?*)

Data with one prompt (the pick-rate design's ``k1``: f0 N(x1 - 0.5 x2, 0.25), the prompt
N(0.5 x1 + 0.5 x2 + 1, 0.1) with weight lam* = 0.3) are fitted by maximum likelihood with K = 2 prompts on
the compact space nu >= ``nu_floor`` (:func:`~bayescmoe.inference.optimize.fit_mle`; unbounded below, the
likelihood grows without limit on a prompt shrunk onto a few points). The true mixing measure has two atoms:
f0, theta0 = (a0, b0, nu0) with weight w0* = 1 - lam*, and the prompt, theta* with weight lam*; the fitted one
has f0 with w0_hat = 1 - sum_i lam_hat_i and the prompts theta_hat_i with lam_hat_i, theta = (a, b, nu).
:func:`voronoi_loss` measures the distance between them, per Voronoi cell.

Starts: the truth is a set, so each of its three forms starts a fit (the extra prompt emptied, splitting
the real prompt, copying f0), then random and data-driven spread starts; the best maximum is kept. The
design ``k2-distinct`` (a second prompt N(-x1 + 0.5 x2 - 1, 0.1) with weight 0.2) is fitted the same way
with K = 3 prompts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike

from bayescmoe.errors import require
from bayescmoe.inference.optimize import fit_mle, log_likelihood_and_prior
from bayescmoe.model.simulate import simulate
from bayescmoe.studies.prompts import choice_design
from bayescmoe.studies.protocols import HALF, QUARTER, Protocol
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.studies.sweep import BELOW_TRUTH_TOL, STOP_NAMES

#: Ho and Nguyen's order r_bar(m) of a Voronoi cell holding m atoms of a location-scale Gaussian mixture
R_BAR = {2: 4, 3: 6}
#: the losses' forms: ``generic`` (order 2 on every coordinate of an over-fitted cell), ``sharp`` (r_bar(m) on
#: the mean parameters, r_bar(m)/2 on the variance)
FORMS = ("generic", "sharp")
#: the pick-rate designs (:func:`~bayescmoe.studies.prompts.choice_design`) whose data are fitted with one prompt
#: more than they hold, by their number of true prompts; the default
DESIGNS, DESIGN = {"k1": 1, "k2-distinct": 2}, "k1"
#: a fit "sits on the floor" when some prompt's nu is within this fraction of ``nu_floor``
AT_FLOOR = 1e-3
#: starts per fit beyond the three forms of the truth: random ones (the spread starts come with them)
RANDOM_STARTS = 4


class VoronoiLoss(NamedTuple):
    """The parts of a Voronoi loss (:func:`voronoi_loss`): the weights' part, each true atom's parameter part
    (f0 first), the true atom whose cell holds each fitted prompt (0 = f0), and each true atom's cell size (f0
    counted in its own)."""

    weight: float
    params: tuple[float, ...]
    cells: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def total(self) -> float:
        """The loss: the weights' part plus every cell's parameter part."""
        return self.weight + sum(self.params)


def voronoi_loss(
    lam: ArrayLike,
    theta: ArrayLike,
    lam_true: ArrayLike,
    theta_true: ArrayLike,
    theta0: ArrayLike,
    *,
    form: str = "generic",
) -> VoronoiLoss:
    """The Voronoi loss between a fitted and the true mixing measure of a constant-gate model
    (docs/open-questions.md: *2. An extra prompt for the MLE*).

    ``lam`` (K,), ``theta`` (K, p): the fitted prompts' weights and atoms (a..., b, nu; nu last); ``lam_true``
    (K0,), ``theta_true`` (K0, p): the true prompts'; ``theta0`` (p,): the frozen expert's atom, weight
    1 - sum(lam) fitted, 1 - sum(lam_true) true. True atom j (j = 0 is f0) owns the cell A_j of the fitted
    prompts nearer to it than to any other true atom (Euclidean in theta; ties to the first); f0 always sits
    in A_0 with zero error and counts in its size m_0 = |A_0| + 1. Then

        loss = sum_j |W_j - w_j*| + sum_j sum_{i in A_j} lam_i rho_{m_j}(theta_i - theta_j*),

    W_j the fitted weight of cell j (f0's own in W_0), rho_1(d) = ||d|| for a cell of one atom, and for an
    over-fitted cell (m_j >= 2) rho(d) = ||d||^2 (``form="generic"``, the second-order Voronoi loss of
    Nguyen, Nguyen and Ho 2023 and the W_2 rate of Ho and Nguyen 2016's strongly identifiable case) or
    rho(d) = ||d_mean||^r + |d_nu|^(r/2), r = r_bar(m_j) (:data:`R_BAR`: 4 for two atoms, 6 for three),
    the orders of over-fitted Gaussian location-scale mixtures (Ho and Nguyen 2016) with (a, b) the mean.
    """
    require(form in FORMS, "form", f"must be one of {list(FORMS)}, got {form!r}")
    lam, theta = np.asarray(lam, float), np.atleast_2d(np.asarray(theta, float))
    lam_true, theta_true = np.asarray(lam_true, float), np.atleast_2d(np.asarray(theta_true, float))
    atoms = np.vstack([np.asarray(theta0, float), theta_true])
    fitted_w = np.concatenate([[1.0 - lam.sum()], lam])
    true_w = np.concatenate([[1.0 - lam_true.sum()], lam_true])
    cell = np.argmin(np.linalg.norm(theta[:, None, :] - atoms[None, :, :], axis=-1), axis=1)
    sizes = tuple(int(np.sum(cell == j)) + (j == 0) for j in range(len(atoms)))
    in_cell = np.array([np.sum(lam[cell == j]) for j in range(len(atoms))]) + np.eye(len(atoms))[0] * fitted_w[0]
    weight = float(np.sum(np.abs(in_cell - true_w)))
    params = []
    for j, m in enumerate(sizes):
        d = theta[cell == j] - atoms[j]
        if m <= 1:  # one atom (or none: a true prompt's empty cell)
            rho = np.linalg.norm(d, axis=-1)
        elif form == "generic":
            rho = np.sum(d**2, axis=-1)
        else:
            require(m in R_BAR, "theta", f"the sharp form knows r_bar for cells of {sorted(R_BAR)} atoms, not {m}")
            r = R_BAR[m]
            rho = np.linalg.norm(d[:, :-1], axis=-1) ** r + np.abs(d[:, -1]) ** (r / 2)
        params.append(float(np.sum(lam[cell == j] * rho)))
    return VoronoiLoss(weight, tuple(params), tuple(int(c) for c in cell), sizes)


#: the loss parts recorded per fit, as ``err_<part>`` (so that :mod:`bayescmoe.studies.slopes` fits their rates)
PARTS = tuple(f"{p}_{f}" for f in FORMS for p in ("prompt", "f0", "total"))
GROUPS = ("weight", *PARTS)
#: the slopes the over-fitted Gaussian location-scale mixture predicts when the extra prompt shares the real
#: prompt's cell (Ho and Nguyen 2016: means n^-1/8, variances n^-1/4); f0's cell, where one fitted atom is
#: fixed, has no theorem (NaN)
THEORY = {
    "weight": HALF,
    "prompt_generic": QUARTER,
    "total_generic": QUARTER,
    "prompt_sharp": HALF,
    "total_sharp": HALF,
}
#: the numbers kept per prompt (``cell``: the true atom whose Voronoi cell holds it, 0 = f0) and per fit
PER_PROMPT = ("lam", "a0", "a1", "b", "nu", "cell")
PER_FIT = (
    *(f"err_{g}" for g in GROUPS),
    "size_f0",
    "size_prompt",
    "loglik_hat",
    "loglik_true",
    "below_truth",
    "converged",
    "stop",
    "at_floor",
    "best_start",
    "seconds",
)


def setting_name(nu_floor: float) -> str:
    """``floor=0.025``: the store's name of a variance floor."""
    return f"floor={nu_floor:g}"


def atoms(params: dict[str, np.ndarray]) -> np.ndarray:
    """The prompts' atoms theta = (a, b, nu), one row per prompt."""
    return np.column_stack([np.asarray(params["a"]), np.asarray(params["b"]), np.asarray(params["nu"])])


def truth_forms(truth: dict[str, np.ndarray], frozen: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    """Three parameters of K0 + 1 prompts with the data's distribution, K0 the true prompts (those with a
    weight): the extra prompt emptied (weight 0: the design's spare prompt when it has one, else on f0's atom),
    splitting the first real prompt (two halves of its weight on its atom), copying f0 (on f0's atom, with half
    of f0's weight)."""
    lam = np.asarray(truth["lam"], float)
    real = lam > 0
    names = [k for k in truth if k != "lam"]
    f0 = {k: np.asarray(frozen[k], float) for k in names}
    prompts = [{k: np.asarray(truth[k])[i] for k in names} for i in np.flatnonzero(real)]
    w = lam[real]

    def stack(rows: list[dict[str, np.ndarray]], weights: list[float]) -> dict[str, np.ndarray]:
        return {"lam": np.asarray(weights, float), **{k: np.stack([r[k] for r in rows]) for k in names}}

    spare = {k: np.asarray(v) for k, v in truth.items()} if not real.all() else stack([*prompts, f0], [*w, 0.0])
    return [
        spare,
        stack([prompts[0], *prompts], [w[0] / 2, w[0] / 2, *w[1:]]),
        stack([*prompts, f0], [*w, (1.0 - w.sum()) / 2]),
    ]


def overfitted_mle_cell(floors: Sequence[float], seed: int, design: str = DESIGN):
    """The cell function of :func:`run_overfitted_mle`: (floor's name, n, replicate) -> its record."""
    settings, one_prompt = choice_design([design])
    spec, truth = settings[design]
    frozen = spec.frozen.params()
    real = np.asarray(truth["lam"]) > 0  # the true prompts: the design's with a weight
    flat = one_prompt.with_prompts(int(real.sum()) + 1).with_priors("flat")
    inits = truth_forms(truth, frozen)
    theta0 = np.concatenate([np.ravel(frozen[k]) for k in ("a", "b", "nu")])
    lam_true, theta_true = np.asarray(truth["lam"])[real], atoms(truth)[real]
    at_truth = {k: jnp.asarray(v) for k, v in inits[0].items()}  # the truth with the extra prompt emptied
    by_name = {setting_name(f): f for f in floors}

    def one(name: str, n: int, replicate: int) -> dict[str, Any]:
        start = time.perf_counter()
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), n), replicate)
        x, y = simulate(key, spec, truth, n)  # the same data for every floor
        nu_floor = by_name[name]
        est = fit_mle(flat, x, y, key=seed + replicate, init=inits, num_random_starts=RANDOM_STARTS, nu_floor=nu_floor)
        loglik_true = float(log_likelihood_and_prior(flat, at_truth, x, y)[0])
        theta = atoms(est.params)
        generic = voronoi_loss(est.params["lam"], theta, lam_true, theta_true, theta0, form="generic")
        values: dict[str, Any] = {"err_weight": generic.weight}
        values |= {"size_f0": float(generic.sizes[0]), "size_prompt": float(max(generic.sizes[1:]))}
        for form in FORMS:  # the sharp form is NaN where a cell holds more atoms than R_BAR knows
            if form == "sharp" and max(generic.sizes) > max(R_BAR):
                values |= {f"err_{part}_{form}": np.nan for part in ("f0", "prompt", "total")}
                continue
            loss = voronoi_loss(est.params["lam"], theta, lam_true, theta_true, theta0, form=form)
            values |= {f"err_f0_{form}": loss.params[0], f"err_prompt_{form}": sum(loss.params[1:])}
            values[f"err_total_{form}"] = loss.total
        per_prompt = {"lam": est.params["lam"], "a0": theta[:, 0], "a1": theta[:, 1], "b": theta[:, 2]}
        per_prompt |= {"nu": theta[:, 3], "cell": generic.cells}
        values |= {k: np.asarray(v, float).tolist() for k, v in per_prompt.items()}
        values |= {
            "loglik_hat": est.log_likelihood,
            "loglik_true": loglik_true,
            "below_truth": float(not est.log_likelihood >= loglik_true - BELOW_TRUTH_TOL * n),
            "converged": float(est.converged),
            "stop": float(STOP_NAMES.index(est.stop_reason)),
            "at_floor": float(nu_floor > 0 and np.min(theta[:, 3]) < nu_floor * (1 + AT_FLOOR)),
            "best_start": float(est.best_start),
            "seconds": time.perf_counter() - start,
        }
        return {"setting": name, "n": n, "replicate": replicate, "values": values}

    return one


def protocol(n_grid: Sequence[int], replicates: int, floors: Sequence[float]) -> Protocol:
    """The study as a :class:`~bayescmoe.studies.protocols.Protocol` (one setting per floor), so that
    :func:`~bayescmoe.studies.slopes.slope_table` fits its slopes against :data:`THEORY`."""
    names = tuple(setting_name(f) for f in floors)
    return Protocol("overfitted-mle", names, tuple(n_grid), replicates, theory=dict.fromkeys(names, THEORY))


def run_overfitted_mle(
    floors: Sequence[float],
    n_grid: Sequence[int],
    replicates: int,
    out: str | Path,
    *,
    design: str = DESIGN,
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (floor, n, replicate) cell of ``design`` (its true prompts and one more fitted), resumed from ``out``
    if it exists."""
    require(all(f > 0 for f in floors), "floors", f"the likelihood is unbounded without a floor; got {list(floors)}")
    require(design in DESIGNS, "design", f"must be one of {list(DESIGNS)}, got {design!r}")
    config = {"seed": seed, "floors": list(floors), "random_starts": RANDOM_STARTS, "design": design}
    attrs = {"config": json.dumps(config), "stop_names": json.dumps(STOP_NAMES)}
    names = [setting_name(f) for f in floors]
    labels = [str(k) for k in range(DESIGNS[design] + 1)]
    fresh = labelled_dataset(names, list(n_grid), replicates, labels, PER_PROMPT, PER_FIT, attrs, "prompt")
    ds = open_store(Path(out), fresh)
    return run_cells(ds, Path(out), overfitted_mle_cell(floors, seed, design), "overfitted MLE", progress=progress)


def cell_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per (floor, n): fits done, where the extra prompt went (the share of fits whose f0 cell holds a prompt,
    whose real prompt's cell holds both), the share on the floor, the fits below the truth's log-likelihood, the
    medians of the log-likelihood gain over the truth and of the smaller weight, and the mean of each loss part."""
    rows = []
    for name in ds["setting"].values:
        for n in ds["n"].values:
            cell = ds.sel(setting=name, n=n)
            done = cell["done"].values == 1
            row: dict[str, Any] = {"floor": str(name).split("=")[1], "n": int(n), "fits": int(done.sum())}
            if done.any():
                v = {name_: cell[name_].values[done] for name_ in PER_FIT}
                row |= {"at f0": float(np.mean(v["size_f0"] > 1)), "split": float(np.mean(v["size_prompt"] > 1))}
                row |= {"on floor": float(np.mean(v["at_floor"])), "below truth": int(np.sum(v["below_truth"]))}
                row["gain"] = float(np.median(v["loglik_hat"] - v["loglik_true"]))
                row["extra weight"] = float(np.median(cell["lam"].min("prompt").values[done]))
                row |= {g: float(np.mean(v[f"err_{g}"])) for g in GROUPS}
            rows.append(row)
    return pd.DataFrame(rows).set_index(["floor", "n"])
