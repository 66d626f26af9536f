"""Fisher information at the truth along paths from identified to collapsed.

Per-observation Fisher information at natural parameters theta (flattened in
:func:`bayescmoe.inference.optimize.flat_labels` order), by Monte Carlo over (X, Y) drawn from the model:

    I(theta) = E_{X,Y}[ s s^T ],   s = grad_theta log p(Y | X, theta)

Why it collapses at a merge (f0 Gaussian, same structure, prompt = frozen + Delta u). The gate
score is (f1 - f0) / p = Delta (u . grad f) / p + Delta^2 (u^T grad^2 f u) / (2 p) + ..., and
the prompt scores are lam grad f / p. At Delta = 0 the gate score is identically 0, so e_lam is
an exact null vector; near the merge the first-order term is a combination of prompt scores, so
the weakest eigenvector is e_lam - (Delta / lam) u + O(Delta^2) and its eigenvalue is the mean
square of the second-order residual: ~ Delta^4 (gate rate n^-1/2 / Delta^2 in docs/science.md: *The rates*).

The heat equation d^2 f / d b^2 = 2 d f / d nu (linear prompt with bias) makes the second-order
term of a pure bias move (u = e_b) equal to Delta^2 d f / d nu, again a prompt score: along that
path the residual starts at third order and the weakest eigenvalue should fall like Delta^6.
:func:`heat_direction` is that e_b; :func:`gate_direction` is e_lam (the exact null direction).

Sigmoid gate (P2, :func:`bayescmoe.studies.fisher_paths.p2_paths`): w(x) = sigmoid(beta.x + tau), gate scores
sigmoid'(beta.x + tau) g(x) (f1 - f0) / p with g(x) = x_j (beta_j) or 1 (tau). At an exact merge
all d + 1 of them vanish: the null space is the whole gate subspace (:func:`gate_basis`), not e_tau
alone. Near it the first-order gate term sigma (1 - sigma) g(x) Delta (u . grad f) / p is NOT a
combination of the prompt scores sigma (v . grad f) / p: that would need (1 - sigma(beta.x + tau))
(c.x + c0) x_1 = v.x for all x (u = e_eta1; for u = e_nu, (1 - sigma)(c.x + c0) = constant), which
no (c, c0) != 0 achieves since sigma varies with x. So nothing cancels at first order: the d + 1
weakest eigenvalues should all fall like Delta^2 (slope 2; beta and tau at n^-1/2 / Delta), with
eigenvectors in the gate subspace up to O(Delta), and the prompt block stays O(1) (the uniform
rates, docs/science.md: *The rates*, state exp(tau) at n^-1/2 / Delta^2 and eta, nu at n^-1/2 / Delta; the constant-gate
pattern, which the local information does not reproduce).

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bayescmoe.errors import require
from bayescmoe.inference.optimize import has_laplace_prompt, observed_information, score_outer_product
from bayescmoe.model.params import flat_labels
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import ModelSpec, check_params

Array = jax.Array

#: eigenvalues below this fraction of the largest are at float64 round-off and left out of slope fits
EIGEN_FLOOR = 1e-13


class Information(NamedTuple):
    """A per-observation information matrix with its spectrum (eigenvalues ascending, vectors as columns)."""

    matrix: np.ndarray
    labels: tuple[str, ...]
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


def _spectrum(spec: ModelSpec, matrix: np.ndarray) -> Information:
    matrix = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(matrix)
    return Information(matrix, flat_labels(spec), values, vectors)


def mean_score_outer(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array) -> Array:
    """mean_i s_i s_i^T, s_i the gradient of log p(y_i | x_i) in the flattened natural parameters."""
    return score_outer_product(spec, params, inputs, y) / y.shape[0]


def _draw(spec: ModelSpec, params: Mapping[str, np.ndarray], key: Array, num_samples: int):
    params = {k: jnp.asarray(v) for k, v in check_params(spec, params).items()}
    x, y = simulate(key, spec, params, num_samples)
    return params, x, y


def fisher_information(spec: ModelSpec, params: Mapping[str, np.ndarray], key: Array, num_samples: int) -> Information:
    """Monte Carlo E[s s^T] at ``params`` from ``num_samples`` draws of (X, Y) (X ~ N(0, I_d))."""
    params, x, y = _draw(spec, params, key, num_samples)
    return _spectrum(spec, np.asarray(mean_score_outer(spec, params, x, y)))


def observed_fisher(spec: ModelSpec, params: Mapping[str, np.ndarray], key: Array, num_samples: int) -> Information:
    """Monte Carlo -mean Hessian of log p(Y | X) at ``params`` (the cross-check of :func:`fisher_information`).

    Refused with a Laplace prompt: the second derivative of -|y - mu| / b in mu is 0 except at the mode,
    where a point mass carries all of it, so the Hessian misses the location information that
    E[s s^T] (:func:`fisher_information`, the Laplace family being regular in quadratic mean) holds,
    and :func:`~bayescmoe.inference.optimize.observed_information` falls back to E[s s^T] itself.
    """
    require(not has_laplace_prompt(spec), "spec", "the Hessian misses a Laplace prompt's information: use E[s s^T]")
    params, x, y = _draw(spec, params, key, num_samples)
    hessian = observed_information(spec.with_priors("flat"), params, x, y)
    return _spectrum(spec, np.asarray(hessian) / num_samples)


def unit_vector(spec: ModelSpec, direction: Mapping[str, np.ndarray]) -> np.ndarray:
    """A parameter-space direction (dict of parameter -> displacement) as a unit flat vector."""
    full = {name: np.zeros(spec.shape(name)) for name in spec.param_names}
    full.update({k: np.asarray(v, dtype=float) for k, v in direction.items()})
    flat = np.asarray(ravel_pytree(full)[0])
    return flat / np.linalg.norm(flat)


def gate_direction(spec: ModelSpec) -> np.ndarray:
    """e_lam (constant gate) or e_tau (sigmoid gate): a direction whose gate score vanishes at an exact merge.

    For the sigmoid gate e_tau is one vector of a (d + 1)-dimensional null space (module doc):
    compare with :func:`gate_basis` there.
    """
    return unit_vector(spec, {"lam": 1.0} if spec.gate == "constant" else {"tau": 1.0})


def gate_basis(spec: ModelSpec) -> np.ndarray:
    """Orthonormal basis (columns) of the gate coordinates: e_lam, or e_beta[0..d-1] and e_tau."""
    names = [k for k in spec.param_names if k in ("lam", "beta", "tau")]
    columns = [
        unit_vector(spec, {name: np.eye(spec.dim)[j] if spec.shape(name) else 1.0})
        for name in names
        for j in range(int(np.prod(spec.shape(name))))
    ]
    return np.stack(columns, axis=1)


def subspace_projection(vectors: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Norm of each column of ``vectors`` (unit) projected on the span of ``basis`` (orthonormal columns)."""
    return np.linalg.norm(basis.T @ np.asarray(vectors).reshape(basis.shape[0], -1), axis=0)


def subspace_overlap(eigenvectors: np.ndarray, basis: np.ndarray) -> float:
    """||B^T V_k||_F^2 / k for the k = rank(B) weakest eigenvectors V_k: 1 when they span span(B), 0 if orthogonal."""
    k = basis.shape[1]
    return float(np.sum((basis.T @ eigenvectors[:, :k]) ** 2) / k)


def heat_direction(spec: ModelSpec) -> np.ndarray:
    """e_b: the prompt move whose second-order term d^2 f / d b^2 = 2 d f / d nu is itself a score.

    Needs a linear prompt with bias (the heat equation couples b and nu only there; module doc).
    """
    require(
        spec.prompt.mean == "linear" and spec.prompt.bias, "spec", "the heat direction needs a linear prompt with bias"
    )
    return unit_vector(spec, {"b": 1.0})


def cosine(vector: np.ndarray, reference: np.ndarray, drop: np.ndarray | None = None) -> float:
    """|cos| of the angle between ``vector`` and ``reference``, after zeroing the entries where ``drop`` != 0."""
    keep = np.ones_like(vector) if drop is None else (np.asarray(drop) == 0).astype(float)
    v, r = vector * keep, reference * keep
    norm = np.linalg.norm(v) * np.linalg.norm(r)
    return float(abs(v @ r) / norm) if norm > 0 else float("nan")
