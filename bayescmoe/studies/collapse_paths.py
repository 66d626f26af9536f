"""Paths from identified to collapsed: NUTS fits along them, their verdicts and a Fisher ground truth.

Paths of truths at a fixed n (d = 2, constant gate (P1), linear experts with bias, frozen expert
a0 = e1, b0 = 0, nu0 = 0.1 as in :mod:`bayescmoe.model.settings`), built by
:func:`bayescmoe.studies.fisher_paths.merging_path` and :func:`bayescmoe.studies.fisher_paths.vanishing_path`:

- **merging**: Gaussian f0, lam* = 0.4, prompt = frozen + Delta u, u = (e2, 1, 0.1) / ||.|| in (a, b, nu);
  Delta = 0 is the exact merge (lam not identified at all).
- **vanishing**: Student-t(5) f0 (distinguishable), prompt (a, b, nu) = (-e1 + e2, 0.5, 0.1), lam* -> 0
  (lam* = 0: no prompt in the data at all).
- **controls**, the merging moves where nothing can merge: ``control`` (Student-t(5) f0: at n = 2000
  its gate is only weakly learned near Delta = 0, Fisher labels those points collapsed),
  ``control-laplace`` (Laplace f0) and ``control-structure`` (Gaussian f0, sigmoid prompt).
- **nearly Gaussian frozen experts** (:data:`NEARLY_GAUSSIAN`), distinguishable by family but hardly
  on data: Student-t(30) and Student-t(100) f0, lam* = 0.3, prompt = f0's mean and variance + Delta u.
- **near-linear**: a tanh prompt against the Gaussian linear f0 of slope 0.3 (:data:`NEAR_LINEAR`),
  distinguishable by structure (P1) but tanh(z) ~ z on the data, lam* = 0.4, prompt = frozen + Delta u.
- **vanishing-sigmoid**: P2's model in d = 2 (:data:`SIGMOID_VANISHING`: sigmoid gate, tanh experts
  without bias, Laplace f0 tanh(e1.x), nu0 = 0.1) with the prompt tanh(-e1.x), beta* = (1, 1)/sqrt 2
  and tau* -> -inf (the value of a point is tau*).

Each point is simulated, fitted (MAP from the truth, NUTS from the MAP) and classified by
:func:`bayescmoe.diagnostics.collapse.collapse_report`, with the evidence for a prompt
(:func:`bayescmoe.diagnostics.predictive.prompt_evidence`: the Savage-Dickey log Bayes factor for
the constant gate, the PSIS-LOO gain for the sigmoid gate) and from the posterior alone
(``verdict_posterior``).

**Ground truth, independent of the classifier** (:func:`fisher_label`). The per-observation Fisher
information I at the truth (:func:`bayescmoe.diagnostics.fisher.fisher_information`, Monte Carlo) predicts the
posterior variance of each natural parameter at size n as diag(I^-1) / n (Bernstein-von Mises); for
a parameter whose contraction :mod:`bayescmoe.diagnostics.signals` measures on the unconstrained scale
(log nu under the InverseGamma prior) the delta method gives var_u = var_theta (du/dtheta)^2. The
predicted contraction is 1 - predicted var / prior var (:func:`bayescmoe.diagnostics.signals.prior_variance`,
:func:`bayescmoe.diagnostics.contraction`'s formula). A point is **collapsed** when some parameter has
predicted contraction < :data:`bayescmoe.diagnostics.collapse.CONTRACTION_MIN` (the classifier's own threshold)
or when I is singular (smallest eigenvalue <= :data:`bayescmoe.diagnostics.fisher.EIGEN_FLOOR` x the largest, or
not finite: the exact merge, lam* = 0); else **identified**. The kind of a collapse is *merging*
when the weakest parameter (lowest predicted contraction; for a singular I, the largest entry of the
null eigenvector) is a gate parameter: the prompt's data are there but its share is not learned,
because the prompt looks like f0 -- whatever f0's family (a Student-t(30) f0 merges at n = 3000);
else *vanishing*: a prompt parameter is the weakest, too few observations come from the prompt.

:func:`agreement` counts how often a verdict names the label: identified, prompt merging and prompt
vanishing name their labels; "prompt not needed" names either collapse (when the data do not call for
a prompt, a merged prompt and a vanished one explain them alike); "weakly identified" flags a
collapse without naming it.

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd
import xarray as xr
from numpyro.distributions.transforms import biject_to

from bayescmoe.diagnostics.collapse import CONTRACTION_MIN, VERDICTS, report_of
from bayescmoe.diagnostics.fisher import EIGEN_FLOOR, fisher_information, gate_direction
from bayescmoe.diagnostics.predictive import prompt_evidence
from bayescmoe.diagnostics.signals import GATE_PARAMS, diagnose, prior_variance
from bayescmoe.inference.nuts import fit_nuts
from bayescmoe.inference.optimize import fit_map
from bayescmoe.model.params import by_label, flat_labels, name_of
from bayescmoe.model.priors import SUPPORTS
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.results.datatree import to_datatree
from bayescmoe.studies.fisher_paths import FisherPath, merging_path, vanishing_path

Array = jax.Array

#: the frozen expert of every path (P1's, in d = 2)
FROZEN = {"mean": "linear", "weight": (1.0, 0.0), "bias": 0.0, "nu": 0.1}
GAUSSIAN = ModelSpec(FrozenExpert("gaussian", **FROZEN))
STUDENT = ModelSpec(FrozenExpert("student_t", df=5.0, **FROZEN))
LAPLACE = ModelSpec(FrozenExpert("laplace", **FROZEN))
STRUCTURE = ModelSpec(FrozenExpert("gaussian", **FROZEN), PromptExpert("sigmoid"))
#: the merging (and control) move u in (a, b, nu), and its gate weight
MOVE = {"a": np.array([0.0, 1.0]), "b": 1.0, "nu": 0.1}
MERGE_LAM = 0.4
#: the vanishing path's fixed prompt
PROMPT = {"a": np.array([-1.0, 1.0]), "b": np.asarray(0.5), "nu": np.asarray(0.1)}
#: the distinguishable controls along the merging moves
CONTROLS = {"control": STUDENT, "control-laplace": LAPLACE, "control-structure": STRUCTURE}
#: nearly Gaussian frozen experts, the prompt at their mean and variance + Delta u, lam* = NEAR_LAM
NEARLY_GAUSSIAN = {
    f"nearly-gaussian-t{df}": ModelSpec(FrozenExpert("student_t", df=float(df), **FROZEN)) for df in (30, 100)
}
NEAR_LAM = 0.3
#: a tanh prompt against a Gaussian linear f0 of slope 0.3 (tanh(z) = z - z^3/3 + ...)
NEAR_LINEAR = ModelSpec(FrozenExpert("gaussian", **{**FROZEN, "weight": (0.3, 0.0)}), PromptExpert("tanh"))
#: P2's model in d = 2 with a Laplace f0 and the prompt tanh(-e1.x), for a vanishing sigmoid gate
SIGMOID_VANISHING = ModelSpec(
    FrozenExpert("laplace", mean="tanh", weight=(1.0, 0.0), nu=0.1), PromptExpert("tanh", bias=False), gate="sigmoid"
)
SIGMOID_PROMPT = {"beta": np.ones(2) / np.sqrt(2.0), "a": np.array([-1.0, 0.0]), "nu": np.asarray(0.1)}
#: the labels of :func:`fisher_label`
LABELS = ("identified", "collapsed: merging", "collapsed: vanishing")


class PathPoint(NamedTuple):
    """One truth on one path: ``value`` is Delta (merging kinds, controls), lam* (vanishing) or tau* (sigmoid)."""

    path: str
    index: int
    value: float
    spec: ModelSpec
    truth: dict[str, np.ndarray]


class FisherLabel(NamedTuple):
    """The Fisher prediction at one truth: label (one of :data:`LABELS`), weakest parameter, contractions."""

    label: str
    weakest: str
    singular: bool
    contraction: dict[str, float]

    @property
    def collapsed(self) -> bool:
        """Whether the label is a collapse (merging or vanishing)."""
        return self.label != "identified"


def standard_paths(
    deltas: Sequence[float],
    lams: Sequence[float],
    control: Sequence[float] | None = None,
    near: Sequence[float] = (),
    taus: Sequence[float] = (),
) -> tuple[FisherPath, ...]:
    """Merging at ``deltas``, vanishing at lam* in ``lams``, the controls at ``control`` (default ``deltas``),
    the nearly Gaussian and near-linear paths at ``near``, the vanishing sigmoid gate at tau* in ``taus``.
    """
    control = np.asarray(deltas if control is None else control, dtype=float)
    near = np.asarray(near, dtype=float)
    paths = (
        merging_path("merging", GAUSSIAN, MERGE_LAM, MOVE, np.asarray(deltas, dtype=float)),
        vanishing_path("vanishing", STUDENT, PROMPT, 2.0 * np.asarray(lams, dtype=float)),
        *(merging_path(name, spec, MERGE_LAM, MOVE, control) for name, spec in CONTROLS.items()),
        *(merging_path(name, spec, NEAR_LAM, MOVE, near) for name, spec in NEARLY_GAUSSIAN.items()),
        merging_path("near-linear", NEAR_LINEAR, MERGE_LAM, MOVE, near),
        FisherPath(
            "vanishing-sigmoid",
            SIGMOID_VANISHING,
            np.asarray(taus, dtype=float),
            tuple({**SIGMOID_PROMPT, "tau": np.asarray(float(tau))} for tau in taus),
            gate_direction(SIGMOID_VANISHING),
        ),
    )
    return tuple(p for p in paths if len(p.truths))


def path_points(paths: Sequence[FisherPath]) -> list[PathPoint]:
    """Every truth of ``paths`` as a :class:`PathPoint` (lam* as the value on the vanishing path)."""
    return [
        PathPoint(p.name, i, float(t["lam"]) if p.name == "vanishing" else float(d), p.spec, t)
        for p in paths
        for i, (d, t) in enumerate(zip(p.deltas, p.truths, strict=True))
    ]


def _unconstrained_slope(spec: ModelSpec, name: str, value: float) -> float:
    """du/dtheta of the bijection NUTS samples through (1/nu for log nu)."""
    inv = biject_to(SUPPORTS[spec.support(name)]).inv
    return float(jax.grad(lambda v: inv(v))(float(value)))


def predicted_contraction(spec: ModelSpec, truth: Mapping[str, Any], matrix: np.ndarray, n: int) -> dict[str, float]:
    """1 - (diag(I^-1)/n) / prior var per scalar, on the scale :mod:`bayescmoe.diagnostics.signals` uses."""
    variance = np.diag(np.linalg.inv(matrix)) / n
    at = by_label({k: np.asarray(v) for k, v in truth.items()})
    priors = {name: prior_variance(spec, name) for name in spec.param_names}
    prior_var = by_label({name: var for name, (var, _) in priors.items()})
    out = {}
    for label, var in zip(flat_labels(spec), variance, strict=True):
        name = name_of(label)
        if priors[name][1] == "unconstrained":
            var = var * _unconstrained_slope(spec, name, float(at[label])) ** 2
        out[label] = float(1.0 - var / prior_var[label])
    return out


def fisher_label(spec: ModelSpec, truth: Mapping[str, Any], n: int, key: Array, num_samples: int) -> FisherLabel:
    """The ground-truth label of one truth at size n (module docstring)."""
    info = fisher_information(spec, truth, key, num_samples)
    labels = info.labels
    values = info.eigenvalues
    singular = not np.all(np.isfinite(info.matrix)) or values[0] <= EIGEN_FLOOR * max(values[-1], 0.0)
    if singular:
        contraction = {label: float("nan") for label in labels}
        null = np.nan_to_num(info.eigenvectors[:, 0]) if np.all(np.isfinite(info.matrix)) else None
        weakest = labels[int(np.argmax(np.abs(null)))] if null is not None else _nonfinite(info.matrix, labels)
    else:
        contraction = predicted_contraction(spec, truth, info.matrix, n)
        weakest = min(contraction, key=contraction.get)
    if not singular and contraction[weakest] >= CONTRACTION_MIN:
        return FisherLabel("identified", weakest, False, contraction)
    merging = name_of(weakest) in GATE_PARAMS
    return FisherLabel(LABELS[1] if merging else LABELS[2], weakest, bool(singular), contraction)


def _nonfinite(matrix: np.ndarray, labels: tuple[str, ...]) -> str:
    """The parameter whose row of the information has the most non-finite entries."""
    return labels[int(np.argmax(np.sum(~np.isfinite(matrix), axis=1)))]


class Chains(NamedTuple):
    """NUTS sizes of every fit."""

    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 4


#: 4 chains x 500 warmup + 500 draws
FULL_CHAINS = Chains()


def fit_result(
    point: PathPoint, n: int, key: Array, chains: Chains = FULL_CHAINS, log_likelihood: bool = False
) -> xr.DataTree:
    """Simulate n pairs at ``point``, fit MAP (from the truth) and NUTS (from the MAP): the lean result."""
    k_data, k_map, k_nuts = jax.random.split(key, 3)
    x, y = simulate(k_data, point.spec, point.truth, n)
    map_ = fit_map(point.spec, x, y, key=k_map, init=point.truth)
    nuts = fit_nuts(point.spec, x, y, key=k_nuts, init=map_.params, **chains._asdict())
    return to_datatree(point.spec, x, y, nuts=nuts, estimates=[map_], truth=point.truth, log_likelihood=log_likelihood)


def classify_fit(dt: xr.DataTree) -> dict[str, Any]:
    """:meth:`CollapseReport.to_dict` with the evidence for a prompt, plus the verdict from the posterior
    alone (``verdict_posterior``) and the smallest contraction."""
    d = diagnose(dt)
    row = report_of(d, prompt_evidence(dt)).to_dict()
    row["verdict_posterior"] = report_of(d).verdict
    row["min_contraction"] = float(np.nanmin([row["gate_contraction"], row["prompt_contraction"]]))
    return row


def fit_point(point: PathPoint, n: int, key: Array, chains: Chains = FULL_CHAINS) -> dict[str, Any]:
    """:func:`classify_fit` of :func:`fit_result` at ``point``."""
    return classify_fit(fit_result(point, n, key, chains))


def run_paths(
    points: Sequence[PathPoint], n: int, seed: int, chains: Chains = FULL_CHAINS, fisher_samples: int = 20000
) -> pd.DataFrame:
    """One row per point: path, value, Fisher label and its numbers, the verdict and the report's checks."""
    root = jax.random.PRNGKey(seed)
    fisher_key = jax.random.fold_in(root, 0)
    rows = []
    for i, point in enumerate(points):
        truth = fisher_label(point.spec, point.truth, n, fisher_key, fisher_samples)
        fit = fit_point(point, n, jax.random.fold_in(root, i + 1), chains)
        predicted = min(truth.contraction.values()) if not truth.singular else float("nan")
        rows.append(
            {
                "path": point.path,
                "point": point.index,
                "value": point.value,
                "label": truth.label,
                "weakest": truth.weakest,
                "singular": truth.singular,
                "predicted_min_contraction": predicted,
                **fit,
            }
        )
    return pd.DataFrame(rows)


def confusion(rows: pd.DataFrame, column: str = "verdict") -> pd.DataFrame:
    """Fisher label x verdict counts (every label and verdict as a row / column, with totals)."""
    label = pd.Categorical(rows["label"], categories=LABELS)
    verdict = pd.Categorical(rows[column], categories=VERDICTS)
    return pd.crosstab(label, verdict, rownames=["Fisher label"], colnames=["verdict"], margins=True, dropna=False)


#: the verdicts that name each label (module docstring)
NAMES = {
    LABELS[0]: ("identified",),
    LABELS[1]: ("prompt merging", "prompt vanishing or merging", "prompt not needed"),
    LABELS[2]: ("prompt vanishing", "prompt vanishing or merging", "prompt not needed"),
}


def agreement(rows: pd.DataFrame, column: str = "verdict") -> dict[str, int]:
    """Fits whose verdict (``column``) names the Fisher label, and collapsed fits flagged at all."""
    named = [verdict in NAMES[label] for label, verdict in zip(rows["label"], rows[column], strict=True)]
    collapsed = rows["label"] != LABELS[0]
    return {
        "verdict names the label": int(np.sum(named)),
        "collapsed fits flagged": int((collapsed & (rows[column] != "identified")).sum()),
        "fits": len(rows),
    }


def errors(rows: pd.DataFrame) -> dict[str, int]:
    """Counts of the classifier's misses: collapsed fits called identified, controls flagged."""
    collapsed = rows["label"] != "identified"
    flagged = rows["verdict"] != "identified"
    control = rows["path"].isin(list(CONTROLS))
    return {
        "collapsed fits not flagged": int((collapsed & ~flagged).sum()),
        "controls flagged (Fisher label identified)": int((control & ~collapsed & flagged).sum()),
        "controls flagged (any)": int((control & flagged).sum()),
    }
