"""Paths of truths from identified to collapsed, and the Fisher information along them.

A :class:`FisherPath` is a sequence of truths at distance Delta from a collapse: a merging prompt
(prompt = frozen + Delta u, :func:`merging_path`) or a vanishing weight (lam* = Delta / 2,
:func:`vanishing_path`). :func:`path_information` evaluates the per-observation Fisher information
(:func:`bayescmoe.diagnostics.fisher.fisher_information`) at each truth, and :func:`eigen_slopes`
fits how each eigenvalue falls with Delta: Delta^4 on P1's merging path, Delta^6 on the heat path,
Delta^2 for the d + 1 gate directions of P2 (the derivations are in :mod:`bayescmoe.diagnostics.fisher`).
:func:`setting_path` is the merging path of a named rate-protocol cell, :func:`family_paths` those of
the cells of docs/open-questions.md: *Non-Gaussian prompts*, :func:`classify_paths` those of a categorical
adapter merging into a frozen classifier.

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax
import numpy as np

from bayescmoe.diagnostics.fisher import EIGEN_FLOOR, Information, fisher_information, gate_direction, unit_vector
from bayescmoe.errors import require
from bayescmoe.model.params import flat_labels
from bayescmoe.model.settings import get_setting
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.studies.losses import error_groups, merge_direction
from bayescmoe.studies.protocols import CLASSIFY_MERGES, FAMILY_MERGES
from bayescmoe.studies.slopes import loglog_fit

Array = jax.Array

#: slopes are fitted on the part of a path with Delta <= this value (the smallest-Delta part)
SLOPE_MAX_DELTA = 0.1


class FisherPath(NamedTuple):
    """Truths along a path at a fixed spec: ``truths[i]`` sits at distance ``deltas[i]``."""

    name: str
    spec: ModelSpec
    deltas: np.ndarray
    truths: tuple[dict[str, np.ndarray], ...]
    direction: np.ndarray


def merging_path(
    name: str,
    spec: ModelSpec,
    gate: float | Mapping[str, np.ndarray],
    direction: Mapping[str, np.ndarray],
    deltas: np.ndarray,
) -> FisherPath:
    """Prompt = frozen + Delta * u / ||u|| at a fixed gate (as :func:`bayescmoe.model.truth.merging_prompt`).

    ``gate``: the weight lam (constant gate) or a dict of the gate parameters (``beta``, ``tau``).
    Delta is the distance Delta* of docs/science.md: *The rates*. With a non-Gaussian f0, or a prompt of
    another mean function (e.g. sigmoid against a linear f0), the same moves are a distinguishable
    control: nothing merges. The prompt needs the frozen expert's parameters (a bias iff f0 has one).
    """
    require(
        spec.prompt.bias == (spec.frozen.bias is not None),
        "spec",
        "a merging path needs a prompt with the frozen expert's parameters (a bias iff the frozen expert has one)",
    )
    frozen = spec.frozen.params()
    fixed = dict(gate) if isinstance(gate, Mapping) else {"lam": gate}
    fixed = {k: np.asarray(v, dtype=float) for k, v in fixed.items()}
    u = {k: np.asarray(v, dtype=float) for k, v in direction.items()}
    norm = np.sqrt(sum(float(np.sum(v**2)) for v in u.values()))
    truths = tuple({**fixed, **{k: frozen[k] + delta * u.get(k, 0.0) / norm for k in frozen}} for delta in deltas)
    return FisherPath(name, spec, np.asarray(deltas, dtype=float), truths, unit_vector(spec, u))


def setting_path(name: str, deltas: np.ndarray, spec: ModelSpec | None = None) -> FisherPath:
    """The merging path of a named setting: its gate, and its prompt moved along its truth's merging direction.

    The setting's truth must merge (every rate moves a prompt parameter); Delta is then the distance
    Delta* of its truths (:func:`bayescmoe.studies.losses.delta_star`). Another ``spec`` of the same
    parameters moves along the same path: with a prompt of another family, a distinguishable control.
    """
    setting = get_setting(name)
    rates = setting.truth.rates
    prompt = set(setting.spec.frozen.params())
    require(bool(rates) and set(rates) <= prompt, "setting", f"{name!r} is not a merging cell (its truth's rates)")
    gate = {k: v for k, v in setting.truth.base.items() if k not in prompt}
    direction = {k: rate.coef for k, rate in rates.items()}
    return merging_path(name, spec or setting.spec, gate, direction, deltas)


def vanishing_path(name: str, spec: ModelSpec, prompt: Mapping[str, np.ndarray], deltas: np.ndarray) -> FisherPath:
    """lam* = 0.5 Delta (0.5 down to 0.5 min Delta) at a fixed prompt."""
    truths = tuple({"lam": np.asarray(0.5 * delta), **prompt} for delta in deltas)
    return FisherPath(name, spec, np.asarray(deltas, dtype=float), truths, gate_direction(spec))


def path_information(path: FisherPath, key: Array, num_samples: int) -> list[Information]:
    """Fisher information at each truth of ``path``, with the same random numbers at every Delta."""
    return [fisher_information(path.spec, truth, key, num_samples) for truth in path.truths]


def eigen_slopes(
    deltas: np.ndarray, eigenvalues: np.ndarray, max_delta: float = SLOPE_MAX_DELTA, floor: float = EIGEN_FLOOR
) -> np.ndarray:
    """Log-log slope of each eigenvalue (columns of ``eigenvalues``, rows = ``deltas``) against Delta.

    Fitted by least squares (np.polyfit) on Delta <= ``max_delta``, leaving out eigenvalues below
    ``floor`` times the largest (float64 round-off); NaN when fewer than 2 points remain.
    """
    deltas, eigenvalues = np.asarray(deltas, dtype=float), np.asarray(eigenvalues, dtype=float)
    top = eigenvalues.max(axis=1, keepdims=True)
    slopes = np.full(eigenvalues.shape[1], np.nan)
    for rank in range(eigenvalues.shape[1]):
        ok = (deltas <= max_delta) & (eigenvalues[:, rank] > floor * top[:, 0])
        if ok.sum() >= 2:
            slopes[rank] = loglog_fit(deltas[ok], eigenvalues[ok, rank])[0]
    return slopes


def standard_paths(deltas: np.ndarray) -> tuple[FisherPath, ...]:
    """The paths of ``analyses/fisher_paths.py``: d = 1, constant gate, linear experts, frozen N(x, 1).

    merging: Gaussian f0, lam* = 0.4, prompt = frozen + Delta (1, 1, 1)/sqrt(3) in (a, b, nu);
    heat: the same along u = e_b; control: Student-t(5) f0 (distinguishable), the merging moves;
    vanishing: Student-t(5) f0, prompt a* = -1, b* = 0.5, nu* = 1, lam* = 0.5 Delta.
    """
    frozen = {"mean": "linear", "weight": (1.0,), "bias": 0.0, "nu": 1.0}
    gaussian = ModelSpec(FrozenExpert("gaussian", **frozen))
    student = ModelSpec(FrozenExpert("student_t", df=5.0, **frozen))
    move = {"a": np.ones(1), "b": 1.0, "nu": 1.0}
    prompt = {"a": -np.ones(1), "b": np.asarray(0.5), "nu": np.asarray(1.0)}
    return (
        merging_path("merging", gaussian, 0.4, move, deltas),
        merging_path("heat", gaussian, 0.4, {"b": 1.0}, deltas),
        vanishing_path("vanishing", student, prompt, deltas),
        merging_path("control", student, 0.4, move, deltas),
    )


#: frozen variance of :func:`p2_paths`: P2's 0.001 (in d = 8) made Monte Carlo of the d + 1 tiny
#: gate eigenvalues noisy at small Delta; 0.1 in d = 2 keeps them stable (same structure otherwise)
P2_NU0 = 0.1
#: P2's gate truth in d = 2: beta* = (1, 1)/sqrt(2), tau* = 1
P2_GATE = {"beta": np.ones(2) / np.sqrt(2.0), "tau": np.asarray(1.0)}


def p2_paths(deltas: np.ndarray) -> tuple[FisherPath, ...]:
    """P2's paths in d = 2: sigmoid gate beta* = (1, 1)/sqrt(2), tau* = 1, tanh experts without bias.

    eta (b-i): Gaussian f0 tanh(e1.x), nu0 = :data:`P2_NU0`, prompt eta = e1 (1 + Delta);
    nu (b-ii, with eta = e1): nu = nu0 + Delta = nu0 (1 + Delta / nu0) (Delta is the distance Delta*);
    control (P2 (a)): Laplace f0 (distinguishable), the eta moves.
    """
    frozen = {"mean": "tanh", "weight": (1.0, 0.0), "nu": P2_NU0}
    prompt = PromptExpert(mean="tanh", bias=False)
    gaussian = ModelSpec(FrozenExpert("gaussian", **frozen), prompt, gate="sigmoid")
    laplace = ModelSpec(FrozenExpert("laplace", **frozen), prompt, gate="sigmoid")
    eta = {"a": np.array([1.0, 0.0])}
    return (
        merging_path("eta", gaussian, P2_GATE, eta, deltas),
        merging_path("nu", gaussian, P2_GATE, {"nu": 1.0}, deltas),
        merging_path("control", laplace, P2_GATE, eta, deltas),
    )


#: the distinguishable cell whose spec moves along the Gaussian merging path as a control (its Laplace
#: prompt never merges into the Gaussian f0)
FAMILY_CONTROL = "p1-laplace-prompt"


def family_paths(deltas: np.ndarray) -> tuple[FisherPath, ...]:
    """The merging paths of the cells of :data:`~bayescmoe.studies.protocols.FAMILY_MERGES`, and a control.

    Each path moves the prompt from f0 along its cell's direction (s e2, s, nu0), s the family's scale
    (:func:`bayescmoe.model.settings.noise_move`); the control is the Gaussian path with a Laplace prompt.
    """
    control = setting_path(FAMILY_MERGES[0], deltas, get_setting(FAMILY_CONTROL).spec)
    return (*(setting_path(name, deltas) for name in FAMILY_MERGES), control._replace(name="control"))


def classify_paths(deltas: np.ndarray, gate: str) -> tuple[FisherPath, ...]:
    """The merging path of the classification cell behind ``gate`` (docs/classification.md: *Rates: homogeneous
    against heterogeneous adapters*), and a control: the same moves with its heterogeneous (tanh) adapter."""
    merging, distinct = f"classify-merging-{gate}", f"classify-distinct-{gate}"
    require(merging in CLASSIFY_MERGES, "gate", f"must be 'constant' or 'sigmoid', got {gate!r}")
    control = setting_path(merging, deltas, get_setting(distinct).spec)
    return setting_path(merging, deltas)._replace(name="merging"), control._replace(name="control")


def predicted_sd(name: str, n_grid: tuple[int, ...], key: Array, num_samples: int) -> dict[str, np.ndarray]:
    """The local prediction of a rate cell's errors: per group, sqrt of its block of I(theta*_n)^-1 / n at each n.

    The information at each n's truth is :func:`fisher_information` with the same random numbers; a vector
    group's value is the root of its block's trace (``a_merge``: u^T C u along the slope's merging direction
    u, ``a_perp`` the rest; ``exp_tau`` by the delta method), the scale of the mean error norm if the MLE
    were normal with that covariance.
    """
    setting = get_setting(name)
    spec, u = setting.spec, merge_direction(setting.truth)
    labels = np.array(flat_labels(spec))
    groups = error_groups(spec, merging=u is not None)
    out: dict[str, list[float]] = {g: [] for g in groups}
    for n in n_grid:
        info = fisher_information(spec, setting.truth.at(spec, n), key, num_samples)
        cov = np.linalg.inv(info.matrix) / n
        names = ("lam", "beta", "tau", "a", "b", "nu")
        block = {g: np.flatnonzero([lab.split("[")[0] == g for lab in labels]) for g in names}
        var = {g: float(np.trace(cov[np.ix_(idx, idx)])) for g, idx in block.items() if idx.size}
        if "tau" in var:  # the delta method: d exp(tau) = exp(tau) d tau
            var["exp_tau"] = float(np.exp(2 * setting.truth.at(spec, n)["tau"])) * var["tau"]
        if u is not None:
            a = cov[np.ix_(block["a"], block["a"])]
            var["a_merge"] = float(u @ a @ u)
            var["a_perp"] = var["a"] - var["a_merge"]
        for g in groups:
            out[g].append(np.sqrt(var[g]))
    return {g: np.asarray(v) for g, v in out.items()}
