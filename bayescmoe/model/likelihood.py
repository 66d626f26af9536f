"""The log-likelihood of the contaminated MoE, in log space throughout (docs/science.md: *The model*).

    log p(y | x) = logaddexp( log(1 - w(x)) + log f0(y | h0(x), nu0),  log w(x) + log g(y | h(x), nu) )

g is the prompt's family (Gaussian by default, :class:`~bayescmoe.model.spec.PromptExpert`). With
K >= 2 prompts (docs/prompts.md)

    log p(y | x) = logsumexp( log w0(x) + log f0(y | h0(x), nu0),  log w_k(x) + log g_k(y | h_k(x), nu_k), k < K )

and the prompts' quantities below carry a last axis of length K.

log w and log(1 - w) come from log/log1p (constant gate) or log_sigmoid (sigmoid gate), so
lambda near 0 or 1 and large |beta.x + tau| stay finite. ``inputs`` are the model's inputs
(:func:`~bayescmoe.model.spec.model_inputs`): the d features, then h0 and nu0 where the frozen
expert is given by its predictions.

A categorical model (docs/classification.md) is the same mixture of class probabilities,

    log p(y = c | x) = logaddexp( log(1 - w(x)) + log p0(c | x),  log w(x) + log softmax(eta(x))_c ),

with log p0 from a log-softmax of the frozen logits (or the log of the given probabilities,
renormalised) and eta_0 = 0: :func:`frozen_mean` and :func:`prompt_mean` are then the experts'
logits against the reference class 0, shape (n, C - 1).

Speed. log f0 does not depend on the parameters: fits compute it once per dataset
(:func:`frozen_log_density`) and pass it as ``log_f0``. :func:`log_add_exp` and :func:`log_sigmoid`
replace JAX's, whose NaN selects keep XLA's CPU backend from vectorising (the value and gradient at
n = 1e6 took 2.1-2.3x longer with them; benchmarks/likelihood_scaling.py). Above
:data:`BLOCKED_ABOVE` rows, :func:`summed_log_likelihood` sums in row blocks
(:func:`blocked_log_likelihood`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from bayescmoe.model.experts import expert_mean
from bayescmoe.model.families import adapter_log_probs, categorical_log_prob, family_logpdf
from bayescmoe.model.spec import GIVEN, ModelSpec

Array = jax.Array
Params = dict[str, Array]


def log_add_exp(a: Array, b: Array) -> Array:
    """log(exp(a) + exp(b)), exact also where a = b = -inf or +inf.

    ``jnp.logaddexp`` with its NaN select replaced by a comparison: the select keeps XLA's CPU
    backend from vectorising the loop (6x slower at n = 1e6 on this machine).
    """
    hi, lo = jnp.maximum(a, b), jnp.minimum(a, b)
    return hi + jnp.log1p(jnp.exp(jnp.where(lo == hi, 0.0, lo - hi)))


def log_sigmoid(z: Array) -> Array:
    """log sigmoid(z) = min(z, 0) - log(1 + exp(-|z|)) (``jax.nn.log_sigmoid`` is slow on CPU, as above)."""
    return jnp.minimum(z, 0.0) - jnp.log1p(jnp.exp(-jnp.abs(z)))


def features(spec: ModelSpec, inputs: Array) -> Array:
    """The d features of the inputs, which the prompt and the gate see."""
    return inputs[:, : spec.dim]


def gate_log_weights(spec: ModelSpec, params: Mapping[str, Array], inputs: Array) -> tuple[Array, Array]:
    """(log w(x), log w0(x)): the prompt's and the frozen expert's log weights, shape (n,) each, or
    (n, K) and (n,) with K >= 2 prompts.

    Constant gate (P1): w = lam, w0 = 1 - lam (1 - sum lam). Sigmoid gate (P2): w = sigmoid(beta.x + tau),
    the two-expert softmax with the frozen expert's logit fixed at 0; with K >= 2 the softmax over
    (0, beta_k.x + tau_k).
    """
    if spec.num_prompts > 1:
        if spec.gate == "constant":
            lam = jnp.broadcast_to(params["lam"], inputs.shape[:1] + params["lam"].shape)
            return jnp.log(lam), jnp.log1p(-jnp.sum(lam, axis=1))
        logits = features(spec, inputs) @ params["beta"].T + params["tau"]
        log_w0 = -jax.nn.logsumexp(jnp.concatenate([jnp.zeros_like(logits[:, :1]), logits], axis=1), axis=1)
        return logits + log_w0[:, None], log_w0
    if spec.gate == "constant":
        lam = jnp.broadcast_to(params["lam"], inputs.shape[:1])
        return jnp.log(lam), jnp.log1p(-lam)
    logit = features(spec, inputs) @ params["beta"] + params["tau"]
    return log_sigmoid(logit), log_sigmoid(-logit)


def frozen_log_probs(spec: ModelSpec, inputs: Array) -> Array:
    """log p0(c | x) of a frozen classifier, shape (n, C): log_softmax(x @ W.T [+ bias]), or of the given
    columns h0 (logits, or probabilities renormalised per row)."""
    f = spec.frozen
    if f.mean != GIVEN:
        logits = features(spec, inputs) @ jnp.asarray(f.weight).T
        return jax.nn.log_softmax(logits if f.bias is None else logits + jnp.asarray(f.bias), axis=1)
    given = inputs[:, spec.dim : spec.dim + f.classes]
    if f.logits:
        return jax.nn.log_softmax(given, axis=1)
    return jnp.log(given) - jnp.log(jnp.sum(given, axis=1, keepdims=True))


def frozen_mean(spec: ModelSpec, inputs: Array) -> Array:
    """h0(x) of the pre-trained expert: act(a0.x [+ b0]), or the given column of the inputs; a frozen
    classifier's logits against the reference class, log p0(c | x) - log p0(0 | x), c >= 1."""
    f = spec.frozen
    if spec.categorical:
        log_p0 = frozen_log_probs(spec, inputs)
        return log_p0[:, 1:] - log_p0[:, :1]
    if f.mean == GIVEN:
        return inputs[:, spec.dim]
    return expert_mean(f.mean, features(spec, inputs), jnp.asarray(f.weight), f.bias)


def frozen_variance(spec: ModelSpec, inputs: Array) -> Array | float:
    """nu0 of the pre-trained expert: a number, or the given last column of the inputs."""
    return inputs[:, -1] if spec.frozen.nu == GIVEN else spec.frozen.nu


def frozen_log_density(spec: ModelSpec, inputs: Array, y: Array) -> Array:
    """log f0(y | h0(x), nu0) of the pre-trained expert, shape (n,); log p0(y | x) of a frozen classifier."""
    f = spec.frozen
    if spec.categorical:
        return categorical_log_prob(frozen_log_probs(spec, inputs), y)
    return family_logpdf(f.family, y, frozen_mean(spec, inputs), frozen_variance(spec, inputs), f.df, f.laplace_reading)


def prompt_mean(spec: ModelSpec, params: Mapping[str, Array], inputs: Array) -> Array:
    """h(x) = act(a.x [+ b]) of the prompt expert, shape (n,); (n, K) for K >= 2 prompts; a categorical
    adapter's logits eta_c = act(a_c.x [+ b_c]), c = 1..C-1, shape (n, C - 1); (n, K, C - 1) for K >= 2."""
    x = features(spec, inputs)
    if spec.categorical and spec.num_prompts == 1:
        return expert_mean(spec.prompt.mean, x, params["a"].T, params.get("b"))
    if spec.categorical:  # (n, K, C - 1)
        b = params.get("b")
        etas = [
            expert_mean(p.mean, x, params["a"][k].T, None if b is None else b[k]) for k, p in enumerate(spec.prompts)
        ]
        return jnp.stack(etas, axis=1)
    if spec.num_prompts == 1:
        return expert_mean(spec.prompt.mean, x, params["a"], params.get("b"))
    b = params.get("b")
    means = [expert_mean(p.mean, x, params["a"][k], None if b is None else b[k]) for k, p in enumerate(spec.prompts)]
    return jnp.stack(means, axis=1)


def prompt_log_density(spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array) -> Array:
    """log g(y | h(x), nu) of the prompt expert of its family (nu its variance), shape (n,); (n, K) for K >= 2."""
    mean = prompt_mean(spec, params, inputs)
    if spec.categorical and spec.num_prompts == 1:
        return categorical_log_prob(adapter_log_probs(mean), y)
    if spec.categorical:
        return jnp.stack([categorical_log_prob(adapter_log_probs(mean[:, k]), y) for k in range(spec.num_prompts)], 1)
    if spec.num_prompts == 1:
        return family_logpdf(spec.prompt.family, y, mean, params["nu"], spec.prompt.df)
    densities = [family_logpdf(p.family, y, mean[:, k], params["nu"][k], p.df) for k, p in enumerate(spec.prompts)]
    return jnp.stack(densities, axis=1)


def class_log_probs(spec: ModelSpec, params: Mapping[str, Array], inputs: Array) -> Array:
    """log p(y = c | x) of a categorical model for every class, shape (n, C): the mixture of log p0 and the
    adapters' log softmax(eta) under the gate's log weights."""
    log_w, log_w0 = gate_log_weights(spec, params, inputs)
    frozen = log_w0[:, None] + frozen_log_probs(spec, inputs)
    eta = prompt_mean(spec, params, inputs)
    if spec.num_prompts == 1:
        return log_add_exp(frozen, log_w[:, None] + adapter_log_probs(eta))
    adapters = jnp.stack([adapter_log_probs(eta[:, k]) for k in range(spec.num_prompts)], axis=1)  # (n, K, C)
    return jax.nn.logsumexp(jnp.concatenate([frozen[:, None], log_w[:, :, None] + adapters], axis=1), axis=1)


def mean_gap(spec: ModelSpec, params: Mapping[str, Array], inputs: Array) -> Array:
    """rms_i(h(x_i) - h0(x_i)) / sqrt(mean_i nu0): how far the prompt's mean lies from f0's, in f0's noise sd
    (shape (K,) with K >= 2 prompts)."""
    h0 = frozen_mean(spec, inputs)
    gap = prompt_mean(spec, params, inputs) - (h0 if spec.num_prompts == 1 else h0[:, None])
    return jnp.sqrt(jnp.mean(gap**2, axis=0) / jnp.mean(frozen_variance(spec, inputs)))


@jax.custom_jvp
def log_mix(lam: Array, log_f0: Array, log_f1: Array) -> Array:
    """log((1 - lam) f0 + lam f1) with exact derivatives also at lam = 0 and lam = 1.

    The derivatives in the experts' parameters are the responsibilities (1 - lam) f0 / p and
    lam f1 / p, computed in log space: always in [0, 1]. The derivative in lam, (f1 - f0) / p, is
    finite except at a boundary where it is genuinely beyond float64: at lam = 0 it is f1 / f0 - 1,
    which overflows once log f1 - log f0 > 709.78 (an observation in f0's far tail, covered by the
    prompt); at lam = 1, 1 - f0 / f1 overflows once log f0 - log f1 > 709.78. It is then +inf or
    -inf, never NaN.
    """
    return log_add_exp(jnp.log1p(-lam) + log_f0, jnp.log(lam) + log_f1)


@log_mix.defjvp
def _log_mix_jvp(primals: tuple[Array, Array, Array], tangents: tuple[Array, Array, Array]) -> tuple[Array, Array]:
    lam, log_f0, log_f1 = primals
    d_lam, d_f0, d_f1 = tangents
    out = log_mix(lam, log_f0, log_f1)
    w0 = jnp.exp(jnp.log1p(-lam) + log_f0 - out)  # (1 - lam) f0 / p, 0 at lam = 1
    w1 = jnp.exp(jnp.log(lam) + log_f1 - out)  # lam f1 / p, 0 at lam = 0
    r0, r1 = jnp.exp(log_f0 - out), jnp.exp(log_f1 - out)  # f0 / p and f1 / p
    return out, (r1 - r0) * d_lam + w0 * d_f0 + w1 * d_f1


@jax.custom_jvp
def log_mix_many(lam: Array, log_f0: Array, log_fk: Array) -> Array:
    """log((1 - sum lam) f0 + sum_k lam_k f_k) for K >= 2 prompts (lam (K,), log_fk (n, K)), with
    :func:`log_mix`'s exact derivatives at the boundary: (f_k - f0) / p in lam_k, responsibilities in the
    experts' log-densities."""
    return jax.nn.logsumexp(_log_terms(lam, log_f0, log_fk), axis=1)


def _log_terms(lam: Array, log_f0: Array, log_fk: Array) -> Array:
    """(n, K + 1): log w0 + log f0, then log lam_k + log f_k."""
    return jnp.concatenate([(jnp.log1p(-jnp.sum(lam)) + log_f0)[:, None], jnp.log(lam) + log_fk], axis=1)


@log_mix_many.defjvp
def _log_mix_many_jvp(primals: tuple[Array, Array, Array], tangents: tuple[Array, Array, Array]):
    lam, log_f0, log_fk = primals
    d_lam, d_f0, d_fk = tangents
    out = log_mix_many(lam, log_f0, log_fk)
    shares = jnp.exp(_log_terms(lam, log_f0, log_fk) - out[:, None])  # responsibilities, in [0, 1]
    ratios = jnp.exp(log_fk - out[:, None]) - jnp.exp(log_f0 - out)[:, None]  # (f_k - f0) / p
    return out, ratios @ d_lam + shares[:, 0] * d_f0 + jnp.sum(shares[:, 1:] * d_fk, axis=1)


def log_likelihood(
    spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array, log_f0: Array | None = None
) -> Array:
    """Pointwise log p(y_i | x_i), shape (n,); ``log_f0``: :func:`frozen_log_density` of (inputs, y), if known."""
    log_f0 = frozen_log_density(spec, inputs, y) if log_f0 is None else log_f0
    log_f1 = prompt_log_density(spec, params, inputs, y)
    if spec.num_prompts > 1:
        if spec.gate == "constant":
            return log_mix_many(params["lam"], log_f0, log_f1)
        log_w, log_w0 = gate_log_weights(spec, params, inputs)
        return jax.nn.logsumexp(jnp.concatenate([(log_w0 + log_f0)[:, None], log_w + log_f1], axis=1), axis=1)
    if spec.gate == "constant":
        return log_mix(params["lam"], log_f0, log_f1)
    log_w, log_1mw = gate_log_weights(spec, params, inputs)
    return log_add_exp(log_1mw + log_f0, log_w + log_f1)


def responsibilities(
    spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array, log_f0: Array | None = None
) -> Array:
    """P(prompt | x_i, y_i) = w(x_i) g(y_i | h(x_i), nu) / p(y_i | x_i) in log space, shape (n,); (n, K) for K >= 2
    prompts (prompt k's; the frozen expert's is 1 - their sum). ``log_f0``: :func:`frozen_log_density` of
    (inputs, y), if known."""
    log_w, log_w0 = gate_log_weights(spec, params, inputs)
    prompt = log_w + prompt_log_density(spec, params, inputs, y)
    frozen = log_w0 + (frozen_log_density(spec, inputs, y) if log_f0 is None else log_f0)
    if spec.num_prompts > 1:
        return jnp.exp(prompt - jax.nn.logsumexp(jnp.concatenate([frozen[:, None], prompt], axis=1), 1, keepdims=True))
    return jnp.exp(prompt - log_add_exp(prompt, frozen))


#: rows per block of :func:`blocked_log_likelihood` (a block's intermediates stay in cache)
BLOCK_ROWS = 65536
#: :func:`summed_log_likelihood` sums in blocks above this many rows (below, the
#: whole-data gradient is as fast: benchmarks/likelihood_scaling.py crosses over near n = 2e5)
BLOCKED_ABOVE = 4 * BLOCK_ROWS


def masked_log_likelihood(
    spec: ModelSpec, params: Mapping[str, Array], inputs: Array, y: Array, mask: Array | None, log_f0: Array | None
) -> Array:
    """sum_i mask_i log p(y_i | x_i, theta) over all rows at once (``mask=None``: every row)."""
    pointwise = log_likelihood(spec, params, inputs, y, log_f0)
    return jnp.sum(pointwise if mask is None else mask * pointwise)


def _blocked_value_and_grad(
    spec: ModelSpec, block_rows: int, params: Params, inputs: Array, y: Array, mask: Array, log_f0: Array
) -> tuple[Array, Params]:
    """:func:`masked_log_likelihood` and its gradient in theta, accumulated over row blocks (a
    ``lax.scan``, then the rows left over)."""
    value_and_grad = jax.value_and_grad(partial(masked_log_likelihood, spec))
    full = y.shape[0] // block_rows

    def step(carry: tuple[Array, Params], i: Array) -> tuple[tuple[Array, Params], None]:
        block = (jax.lax.dynamic_slice_in_dim(a, i * block_rows, block_rows) for a in (inputs, y, mask, log_f0))
        value, grad = value_and_grad(params, *block)
        return (carry[0] + value, jax.tree.map(jnp.add, carry[1], grad)), None

    start = (jnp.zeros(()), jax.tree.map(jnp.zeros_like, params))
    (value, grad), _ = jax.lax.scan(step, start, jnp.arange(full))
    if y.shape[0] % block_rows:
        rest, rest_grad = value_and_grad(params, *(a[full * block_rows :] for a in (inputs, y, mask, log_f0)))
        value, grad = value + rest, jax.tree.map(jnp.add, grad, rest_grad)
    return value, grad


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def blocked_log_likelihood(
    spec: ModelSpec, block_rows: int, params: Params, inputs: Array, y: Array, mask: Array, log_f0: Array
) -> Array:
    """:func:`masked_log_likelihood`, value and gradient in theta computed together, block by block.

    XLA's CPU backend recomputes the per-row transcendentals in every consumer of a whole-data
    gradient; in blocks of ``block_rows`` rows the value and gradient of n = 1e6 rows cost 2-3x less
    (benchmarks/likelihood_scaling.py). Differentiable in theta only (to any order); (x, y, mask,
    log_f0) are data.
    """
    return _blocked_value_and_grad(spec, block_rows, params, inputs, y, mask, log_f0)[0]


@partial(blocked_log_likelihood.defjvp, symbolic_zeros=True)
def _blocked_log_likelihood_jvp(
    spec: ModelSpec, block_rows: int, primals: tuple, tangents: tuple
) -> tuple[Array, Array]:
    if not all(type(t) is SymbolicZero for t in tangents[1:]):
        raise NotImplementedError("blocked_log_likelihood is differentiable in the parameters only, not in the data")
    value, grad = _blocked_value_and_grad(spec, block_rows, *primals)
    dparams = jax.tree.map(lambda t, g: jnp.zeros_like(g) if type(t) is SymbolicZero else t, tangents[0], grad)
    return value, sum(jnp.vdot(g, t) for g, t in zip(jax.tree.leaves(grad), jax.tree.leaves(dparams), strict=True))


def summed_log_likelihood(
    spec: ModelSpec,
    params: Mapping[str, Array],
    inputs: Array,
    y: Array,
    mask: Array | None = None,
    log_f0: Array | None = None,
    block_rows: int | None = None,
) -> Array:
    """sum_i mask_i log p(y_i | x_i, theta), what fits and samplers differentiate.

    All rows at once (:func:`masked_log_likelihood`), or :func:`blocked_log_likelihood` (the same
    value to rounding) in blocks of ``block_rows`` rows when there are more; by default in blocks of
    :data:`BLOCK_ROWS` above :data:`BLOCKED_ABOVE` rows.
    """
    if block_rows is None:
        block_rows = BLOCK_ROWS if y.shape[0] > BLOCKED_ABOVE else y.shape[0]
    if y.shape[0] <= block_rows:
        return masked_log_likelihood(spec, params, inputs, y, mask, log_f0)
    mask = jnp.ones_like(y) if mask is None else mask
    log_f0 = frozen_log_density(spec, inputs, y) if log_f0 is None else log_f0
    return blocked_log_likelihood(spec, block_rows, dict(params), inputs, y, mask, log_f0)
