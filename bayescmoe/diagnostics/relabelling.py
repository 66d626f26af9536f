"""Label switching among prompts: one labelling for every posterior draw (docs/prompts.md: *Label switching*).

Prompts of one mean structure and family, under priors that treat them alike, are exchangeable:
permuting their labels changes neither the likelihood nor the prior, so the posterior holds K! copies
of each mode and NUTS chains may settle in different copies (R-hat explodes on a posterior that is
fine within each chain). An ordering constraint (``ModelSpec(order="b")``) removes the copies before
sampling; :func:`relabel` removes them after, keeping the raw draws.

Each draw's prompt k is a vector v_k on a scale where the labels act by permutation
(:func:`prompt_vectors`: log(lam_k / w0), or beta_k and tau_k; a_k, [b_k], log nu_k). With
``method="hungarian"``:

1. the reference m starts at a pivot, the MAP or else the draw of highest log posterior
   (``sample_stats.lp``): the pivotal reordering of Marin, Mengersen and Robert (2005), with a
   standardised distance in place of their inner product;
2. each draw takes the permutation sigma of its prompts minimising
   sum_k sum_c ((v_sigma(k),c - m_kc) / s_c)^2, s_c the pooled within-label posterior sd of coordinate
   c, by SciPy's ``linear_sum_assignment`` (the Hungarian algorithm), permuting only prompts of one
   exchangeable group (:func:`exchangeable_groups`);
3. m <- the mean of the relabelled draws and s <- their pooled sd, then 2 again, until no draw changes
   labels: the relabel-then-re-estimate iteration of Celeux (1998) and Stephens (2000), here with a
   quadratic loss on the parameters.

``method="stephens"`` is Stephens' (2000) own loss in the same iteration: each draw's classification
probabilities p_ki = P(prompt k | x_i, y_i) (:func:`classification`) against their mean q over the
relabelled draws, by the Kullback-Leibler divergence sum_i sum_k p log(p / q) (:func:`kl_costs`), the
pivot's probabilities in place of q at first. It labels prompts by the observations they explain,
not by their parameters, and holds (draws, K, n) numbers in memory.

Relabelling is meaningless for two prompts that merged into one (:func:`prompt_overlap`): their
posteriors overlap, and a draw's labelling of them is ambiguous -- swapping the two costs less than
:data:`AMBIGUITY_MARGIN`, i.e. under a Gaussian reading exp(-cost / 2) of the loss the swapped labelling
keeps at least 1/19 of the chosen one's weight -- in at least :data:`MERGED_SHARE` of the draws.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from scipy import special

from bayescmoe.errors import require
from bayescmoe.model.labels import best, costs, exchangeable_groups, nearest_labelling, permuted, prompt_vectors
from bayescmoe.model.likelihood import responsibilities
from bayescmoe.model.params import unconstrain
from bayescmoe.model.spec import ModelSpec, check_params
from bayescmoe.results.datatree import data_of, spec_of
from bayescmoe.runtime import require_memory

#: the relabelling algorithms: a quadratic loss on the parameters, or Stephens' on the classification probabilities
METHODS = ("hungarian", "stephens")
#: a reference taken from the result: one of its point groups, or its draw of highest log posterior
REFERENCE_GROUPS, HIGHEST_LP = ("map", "mle", "truth"), "lp"
#: the iteration stops here if some draw still changes labels (recorded as not converged)
MAX_ITERATIONS = 100
#: a swap of two prompts costing less than this is ambiguous: exp(-margin / 2) = 1/19
AMBIGUITY_MARGIN = 2 * np.log(19.0)
#: two prompts merged when at least this share of the draws labels them ambiguously
MERGED_SHARE = 0.5


class Overlap(NamedTuple):
    """Two prompts' overlap: the share of draws whose labelling of them is ambiguous, the standardised
    distance between their posterior means, and whether they merged (relabelling them is meaningless)."""

    prompts: tuple[int, int]
    ambiguous_share: float
    distance: float
    merged: bool


def pooled_sd(vectors: np.ndarray) -> np.ndarray:
    """Per coordinate, the within-label posterior sd pooled over the prompts (1 where the draws are constant)."""
    sd = np.sqrt(np.mean(np.var(vectors, axis=0), axis=0))
    return np.where(sd > 0, sd, 1.0)


def overlap(vectors: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> tuple[Overlap, ...]:
    """:class:`Overlap` of each pair of exchangeable prompts in draws (draws, K, p) labelled as they are, against
    their mean and pooled sd (the fixed point of :func:`relabel`'s iteration)."""
    reference, scale = vectors.mean(axis=0), pooled_sd(vectors)
    cost = costs(vectors, reference, scale)
    out = []
    for group in groups:
        for i, j in ((i, j) for n, i in enumerate(group) for j in group[n + 1 :]):
            swap = cost[:, i, j] + cost[:, j, i] - cost[:, i, i] - cost[:, j, j]
            share = float(np.mean(swap < AMBIGUITY_MARGIN))
            distance = float(np.sqrt(np.sum(((reference[i] - reference[j]) / scale) ** 2)))
            out.append(Overlap((i, j), share, distance, share >= MERGED_SHARE))
    return tuple(out)


def labelling(
    items: np.ndarray,
    first: np.ndarray,
    cost_of: Callable[[np.ndarray], np.ndarray],
    groups: tuple[tuple[int, ...], ...],
) -> tuple[np.ndarray, int, bool]:
    """Relabel until no label changes: the permutations of least cost ``first`` (against the pivot), then again
    and again of least ``cost_of(items relabelled)`` (against their mean). Returns (the permutations, the
    passes, whether the last changed no label)."""
    perm = best(first, groups)
    iterations, converged = 1, not groups
    while not converged and iterations < MAX_ITERATIONS:
        again = best(cost_of(permuted(items, perm)), groups)
        iterations, converged, perm = iterations + 1, bool(np.array_equal(again, perm)), again
    return perm, iterations, converged


def classification(spec: ModelSpec, draws: Mapping[str, np.ndarray], inputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each draw's classification probabilities P(prompt k | x_i, y_i), shape (draws, K, n)."""
    xj, yj = jnp.asarray(inputs), jnp.asarray(y)
    one = lambda p: responsibilities(spec, p, xj, yj).T  # noqa: E731
    return np.asarray(jax.lax.map(one, {k: jnp.asarray(v) for k, v in draws.items()}, batch_size=64))


def kl_costs(probs: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(draws, j, k): sum_i p_ji log(p_ji / q_ki), the Kullback-Leibler loss of Stephens (2000) of giving a draw's
    prompt j (probabilities ``probs``, (draws, K, n)) the label k of ``reference`` (K, n); the frozen expert's
    term is the same for every permutation and left out."""
    log_q = np.log(np.maximum(reference, np.finfo(float).tiny))
    return np.sum(special.xlogy(probs, probs), axis=-1)[:, :, None] - np.einsum("sjn,kn->sjk", probs, log_q)


def _draws(dt: xr.DataTree, group: str, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The parameters' draws of a group as (chain * draw, K, ...)."""
    return {k: (v := dt[group][k].values).reshape(-1, *v.shape[2:]) for k in spec.param_names}


def prompt_overlap(dt: xr.DataTree) -> tuple[Overlap, ...]:
    """Which exchangeable prompts of a K >= 2 result merged, on its draws labelled as they are (after
    :func:`relabel`, or under an ordering constraint): :class:`Overlap` per pair (module docstring)."""
    spec = spec_of(dt)
    return overlap(prompt_vectors(spec, _draws(dt, "posterior", spec)), exchangeable_groups(spec))


def pivot(
    dt: xr.DataTree, spec: ModelSpec, reference: str | Mapping[str, Any] | None, source: str = "posterior"
) -> tuple[dict, str]:
    """The reference point (natural parameters) and how it was chosen: the MAP, else the draw of highest
    log posterior (in the group ``source``); or a point group of the result, ``"lp"``, or given parameters."""
    if reference is None:
        reference = "map" if "map" in dt.children else HIGHEST_LP
    if isinstance(reference, Mapping):
        return check_params(spec, reference, "reference"), "given parameters"
    choices = [*REFERENCE_GROUPS, HIGHEST_LP]
    require(reference in choices, "reference", f"unknown reference {reference!r}; choose from {choices} or a point")
    if reference == HIGHEST_LP:
        require("sample_stats" in dt.children, "reference", "the draw of highest lp needs the sample_stats group")
        lp = dt["sample_stats"]["lp"].values
        chain, draw = np.unravel_index(int(np.argmax(lp)), lp.shape)
        point = {k: dt[source][k].values[chain, draw] for k in spec.param_names}
        return point, f"the draw of highest lp (chain {chain}, draw {draw})"
    require(
        reference in dt.children, "reference", f"the result has no {reference!r} group; it has {sorted(dt.children)}"
    )
    return {k: dt[reference][k].values for k in spec.param_names}, reference


def matched(spec: ModelSpec, point: Mapping[str, Any], draws: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``point`` (a MAP, say) with its prompts labelled as the ``draws`` (draws, K, ...) label theirs."""
    vectors = prompt_vectors(spec, draws)
    return nearest_labelling(spec, point, vectors.mean(axis=0), pooled_sd(vectors))


def permutations(
    dt: xr.DataTree, method: str, draws: Mapping[str, np.ndarray], point: Mapping[str, Any]
) -> tuple[np.ndarray, int, bool]:
    """:func:`labelling` of ``draws`` (draws, K, ...) by ``method`` from the pivot ``point`` (module docstring)."""
    spec = spec_of(dt)
    groups = exchangeable_groups(spec)
    if method == "hungarian":
        vectors = prompt_vectors(spec, draws)
        first = costs(vectors, prompt_vectors(spec, point), pooled_sd(vectors))
        return labelling(vectors, first, lambda v: costs(vectors, v.mean(axis=0), pooled_sd(v)), groups)
    inputs, y = data_of(dt)
    size = next(iter(draws.values())).shape[0] * spec.num_prompts * len(y)
    require_memory(3 * 8 * size, "method", "Stephens' relabelling (three numbers per draw, prompt and observation)")
    probs = classification(spec, draws, inputs, y)
    pivot_probs = classification(spec, {k: np.asarray(v)[None] for k, v in point.items()}, inputs, y)[0]
    return labelling(probs, kl_costs(probs, pivot_probs), lambda p: kl_costs(probs, p.mean(axis=0)), groups)


def relabelling_of(dt: xr.DataTree) -> dict[str, Any] | None:
    """What :func:`relabel` recorded in a result (``attrs["relabelling"]``), or None if it was not relabelled."""
    record = dt.attrs.get("relabelling")
    return None if record is None else json.loads(record)


def relabel(
    dt: xr.DataTree, method: str = "hungarian", reference: str | Mapping[str, Any] | None = None
) -> xr.DataTree:
    """A copy of a K >= 2 NUTS result whose draws all carry one labelling of the prompts (module docstring).

    ``method``: ``"hungarian"`` or ``"stephens"`` (module docstring). ``reference``: the pivot, by default
    the MAP if the result has one, else its draw of highest log posterior (``"lp"``); or ``"map"``,
    ``"mle"``, ``"truth"`` (a group of the result), or natural parameters. The copy's ``posterior`` and
    ``unconstrained_posterior`` hold the relabelled draws, its ``posterior_raw`` the draws as sampled (a
    result relabelled before is relabelled from them again); every other group is left as it is:
    likelihood, prior and log posterior are invariant under the permutations, which act within groups
    of exchangeable prompts only. ``attrs["relabelling"]`` (JSON; :func:`relabelling_of`,
    :func:`describe_relabelling`) records the method, the reference, the iterations (and whether they
    converged), the share of draws permuted per chain, each pair's :class:`Overlap` and the worst R-hat
    before and after (:func:`worst_rhat`). With ``spec.order`` set the labels are identified already and
    relabelling is unnecessary (the record says so); a draw it permutes leaves the ordered cone, where
    the unconstrained scale is undefined (NaN).
    """
    require(method in METHODS, "method", f"unknown method {method!r}; choose from {list(METHODS)}")
    require("posterior" in dt.children, "result", "has no posterior: relabelling permutes NUTS draws")
    spec = spec_of(dt)
    require(spec.num_prompts > 1, "result", "has one prompt: there are no labels to switch")
    source = "posterior_raw" if "posterior_raw" in dt.children else "posterior"
    draws = _draws(dt, source, spec)
    point, described = pivot(dt, spec, reference, source)
    groups = exchangeable_groups(spec)
    perm, iterations, converged = permutations(dt, method, draws, point)
    relabelled = {k: permuted(v, perm) for k, v in draws.items()}
    moved = np.any(perm != np.arange(spec.num_prompts), axis=1).reshape(dt[source].sizes["chain"], -1).mean(axis=1)
    if spec.order is not None:
        note = f"spec.order = {spec.order!r} identifies the labels already: relabelling is unnecessary"
    elif not groups:
        note = "no two prompts are exchangeable (structure, family or prior weight differ): no draw is permuted"
    else:
        note = ""
    out = dt.copy()
    out["posterior_raw"] = dt[source].copy()
    out["posterior"] = xr.DataTree(_replaced(dt["posterior"].to_dataset(), relabelled))
    record = {
        "method": method,
        "reference": described,
        "iterations": iterations,
        "converged": converged,
        "permuted_share": [float(v) for v in moved],
        "exchangeable": [list(g) for g in groups],
        "overlap": [o._asdict() for o in overlap(prompt_vectors(spec, relabelled), groups)],
        "rhat_raw": worst_rhat(out["posterior_raw"].to_dataset()),
        "rhat": worst_rhat(out["posterior"].to_dataset()),
        "note": note,
    }
    if "unconstrained_posterior" in dt.children:
        free = {k: np.asarray(v) for k, v in unconstrain(spec, relabelled).items()}
        out["unconstrained_posterior"] = xr.DataTree(_replaced(dt["unconstrained_posterior"].to_dataset(), free))
    out.attrs = {**dt.attrs, "relabelling": json.dumps(record)}
    return out


def worst_rhat(posterior: xr.Dataset) -> float:
    """The largest rank-normalised split R-hat over a posterior's scalars (``az.rhat``)."""
    return float(az.rhat(posterior).to_array().max())


def describe_relabelling(record: Mapping[str, Any]) -> str:
    """One line on what :func:`relabel` did (its ``attrs["relabelling"]`` record)."""
    shares = ", ".join(f"{v:.2f}" for v in record["permuted_share"])
    merged = [o["prompts"] for o in record["overlap"] if o["merged"]]
    return (
        f"{record['method']} to {record['reference']}, {record['iterations']} iteration(s); share of draws "
        f"permuted per chain {shares}; worst R-hat {record['rhat_raw']:.3g} before, {record['rhat']:.3g} after"
        + "".join(f"; prompts {i} and {j} merged: their labels are not identified" for i, j in merged)
        + (f"; {record['note']}" if record["note"] else "")
    )


def _replaced(ds: xr.Dataset, values: Mapping[str, np.ndarray]) -> xr.Dataset:
    """``ds`` with each variable of ``values`` (draws flattened over chain and draw) in place of its own."""
    return ds.assign({k: ds[k].copy(data=np.asarray(v).reshape(ds[k].shape)) for k, v in values.items()})
