"""The prompts' labels: which of K >= 2 prompts are exchangeable, and the permutations that relabel them.

Prompts of one mean structure and family, under priors that treat them alike, can swap labels without
changing the likelihood or the prior (docs/prompts.md: *Label switching*). A prompt's parameters form one
vector on a scale where a relabelling acts by permutation (:func:`prompt_vectors`), and a labelling is
the assignment of least squared distance to a reference (:func:`best`, the Hungarian algorithm of
SciPy's ``linear_sum_assignment``). :func:`align_prompts` labels a point estimate like a reference
point; :mod:`bayescmoe.diagnostics.relabelling` relabels posterior draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from bayescmoe.model.params import BOUNDARY_NUDGE
from bayescmoe.model.spec import ModelSpec


def exchangeable_groups(spec: ModelSpec) -> tuple[tuple[int, ...], ...]:
    """The groups of two or more prompts whose labels may switch: one mean structure, bias and family, and one
    weight in the prior (a ``dirichlet`` prior with K + 1 concentrations may tell them apart)."""
    prior = spec.prior("lam") if "lam" in spec.param_names else None
    alpha = np.broadcast_to(prior.args, (spec.num_prompts + 1,)) if prior and prior.family == "dirichlet" else None
    kinds: dict[tuple, list[int]] = {}
    for k, p in enumerate(spec.prompts):
        kinds.setdefault((p, None if alpha is None else float(alpha[k + 1])), []).append(k)
    return tuple(tuple(group) for group in kinds.values() if len(group) > 1)


def prompt_vectors(spec: ModelSpec, params: Mapping[str, Any]) -> np.ndarray:
    """Each prompt's parameters as one vector, shape (..., K, p): log(lam_k / w0) (the additive log-ratio of the
    weights, unbounded and permuted with the labels), log nu_k, and beta_k, tau_k, a_k, b_k as they are."""
    columns = []
    for name in spec.param_names:
        value = np.asarray(params[name], dtype=float)
        if name == "lam":
            value = np.maximum(value, BOUNDARY_NUDGE)
            value = np.log(value) - np.log(np.maximum(1.0 - value.sum(-1, keepdims=True), BOUNDARY_NUDGE))
        elif name == "nu":
            value = np.log(value)
        lead = value.ndim - len(spec.shape(name)) + 1  # the leading axes, through the prompt axis
        columns.append(value.reshape(*value.shape[:lead], -1))  # a categorical adapter's a_k: C - 1 rows of d
    return np.concatenate(columns, axis=-1)


def costs(vectors: np.ndarray, reference: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(draws, j, k): the squared standardised distance of each draw's prompt j from the reference's prompt k."""
    return np.sum(((vectors[:, :, None, :] - reference[None, None]) / scale) ** 2, axis=-1)


def best(cost: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """The permutation (draws, K) of least total cost (draws, j, k) for each draw, prompts moving within their
    group only (SciPy's ``linear_sum_assignment``): label k takes the draw's prompt ``perm[s, k]``."""
    perm = np.tile(np.arange(cost.shape[1]), (cost.shape[0], 1))
    for group in map(np.asarray, groups):
        block = cost[:, group][:, :, group]
        for s in range(len(block)):
            rows, cols = linear_sum_assignment(block[s])
            perm[s, group[cols]] = group[rows]
    return perm


def permuted(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """``values`` (draws, K, ...) with each draw's prompts reordered by ``perm`` (draws, K)."""
    index = perm.reshape(perm.shape + (1,) * (values.ndim - 2))
    return np.take_along_axis(values, index, axis=1)


def nearest_labelling(
    spec: ModelSpec, params: Mapping[str, Any], reference: np.ndarray, scale: np.ndarray | float = 1.0
) -> dict[str, np.ndarray]:
    """``params`` (one point) with its exchangeable prompts relabelled so that their :func:`prompt_vectors` lie
    nearest the ``reference`` vectors (K, p), each coordinate divided by ``scale``."""
    vectors = prompt_vectors(spec, params)[None]
    perm = best(costs(vectors, reference, np.broadcast_to(scale, vectors.shape[-1:])), exchangeable_groups(spec))
    return {k: permuted(np.asarray(v)[None], perm)[0] for k, v in params.items()}


def align_prompts(spec: ModelSpec, params: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``params`` with its exchangeable prompts relabelled to lie nearest ``reference``'s (an unscaled squared
    distance between :func:`prompt_vectors`); unchanged for one prompt or none exchangeable."""
    if not exchangeable_groups(spec):
        return {k: np.asarray(v) for k, v in params.items()}
    return nearest_labelling(spec, params, prompt_vectors(spec, reference))
