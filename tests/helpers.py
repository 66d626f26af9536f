"""Shared builders, the tests' seeds and an independent NumPy/SciPy reference of the contaminated MoE.

Every seed a test uses is :func:`seed` (k + the shift of ``pytest --seed-shift N`` or the environment
variable BAYESCMOE_SEED_SHIFT, default 0): a test that holds at one shift only is a defect.

Nothing here imports the package's numerics: the reference densities, CDFs and log-likelihood are
written from the maths so that the tests compare two independent implementations.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from scipy import special, stats

from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert

# --------------------------------------------------------------------------------------------
# seeds: every seed a test uses is k + the shift (``--seed-shift N`` or BAYESCMOE_SEED_SHIFT)
# --------------------------------------------------------------------------------------------

#: the environment variable of the seed shift (``pytest --seed-shift`` wins over it)
SEED_SHIFT_ENV = "BAYESCMOE_SEED_SHIFT"
_shift = {"value": 0}


def parse_seed_shift(text: str | int | None) -> int:
    """A seed shift: a non-negative integer (None or "" is 0)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"the seed shift must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise ValueError(f"the seed shift must be a non-negative integer, got {value}")
    return value


def set_seed_shift(value: int) -> None:
    """Set the shift every :func:`seed` adds (tests/conftest.py calls it once per process)."""
    _shift["value"] = parse_seed_shift(value)


def seed_shift() -> int:
    return _shift["value"]


def seed(k: int) -> int:
    """The k-th seed of a test: k + the seed shift."""
    return k + _shift["value"]


def key(k: int) -> jax.Array:
    """``jax.random.PRNGKey(seed(k))``."""
    return jax.random.PRNGKey(seed(k))


def majority(outcomes: Sequence[bool]) -> bool:
    """Whether most of ``outcomes`` (one per seed) hold.

    For a property that holds with high probability p but not surely (a p-value under the null above a
    level, a label a finite sample decides): one seed fails with probability 1 - p, a majority of three
    about 3 (1 - p)^2, of five about 10 (1 - p)^3.
    """
    return 2 * sum(bool(v) for v in outcomes) > len(outcomes)


def most_seeds(check: Callable[[int], bool], first: int, count: int = 3) -> list[bool]:
    """``check(k)`` for k = first, ..., first + count - 1 (``check`` draws with seed(k)); asserts a majority."""
    outcomes = [bool(check(first + i)) for i in range(count)]
    assert majority(outcomes), f"held at {sum(outcomes)} of seeds {seed(first)}..{seed(first + count - 1)}: {outcomes}"
    return outcomes


#: the collapse report's checks of the sampler's health: each fires on some healthy fits by chance (rank
#: R-hat above 1.02 or a chain test below its level: 4 of 200 identified fits of 2 chains x 400 draws)
SAMPLER_CHECKS = frozenset({"rhat", "ess_bulk", "ess_tail", "divergences", "bfmi", "chain_p"})


def sampler_alarm(verdict: str, reason: str) -> bool:
    """Whether a verdict is "weakly identified" by sampler checks alone (``reason``: "checks fired: a, b")."""
    fired = set(reason.removeprefix("checks fired: ").split(", "))
    return verdict == "weakly identified" and reason.startswith("checks fired: ") and fired <= SAMPLER_CHECKS


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------

#: the four frozen-family settings the tests sweep over: (family, df, laplace_reading)
FAMILY_CASES = {
    "gaussian": ("gaussian", None, "variance"),
    "laplace": ("laplace", None, "variance"),
    "student_t": ("student_t", 5.0, "variance"),
    "laplace_scale": ("laplace", None, "scale"),
}
MEANS = ("linear", "sigmoid", "tanh", "relu", "gelu")
#: the prompt's families the tests sweep over: (family, df); nu is always the prompt's variance
PROMPT_FAMILY_CASES = {"gaussian": ("gaussian", None), "laplace": ("laplace", None), "student_t": ("student_t", 4.0)}


def make_spec(
    family: str = "student_t",
    *,
    mean: str = "linear",
    prompt_mean: str | None = None,
    gate: str = "constant",
    weight: tuple[float, ...] = (1.0, -0.5),
    bias: float | None = 0.0,
    prompt_bias: bool = True,
    nu: float = 1.0,
    priors: Any = (),
    prompt_family: str = "gaussian",
) -> ModelSpec:
    """A small spec whose frozen family is a key of :data:`FAMILY_CASES` (student_t has df = 5) and whose
    prompt's family is a key of :data:`PROMPT_FAMILY_CASES` (student_t has df = 4)."""
    fam, df, reading = FAMILY_CASES[family]
    frozen = FrozenExpert(family=fam, mean=mean, weight=weight, bias=bias, nu=nu, df=df, laplace_reading=reading)
    prompt_fam, prompt_df = PROMPT_FAMILY_CASES[prompt_family]
    prompt = PromptExpert(mean=prompt_mean or mean, bias=prompt_bias, family=prompt_fam, df=prompt_df)
    return ModelSpec(frozen=frozen, prompt=prompt, gate=gate, priors=priors)


def make_params(spec: ModelSpec, **overrides: Any) -> dict[str, np.ndarray]:
    """Fixed, moderate parameter values for ``spec`` (d-dimensional vectors built from a pattern)."""
    d = spec.dim
    pattern = np.array([-1.0, 0.5, 0.25, -0.75, 1.5, -0.3, 0.8, 0.1])
    values: dict[str, Any] = {
        "lam": 0.3,
        "beta": np.resize(np.array([0.8, -0.5, 0.3]), d),
        "tau": 0.2,
        "a": np.resize(pattern, d),
        "b": 1.0,
        "nu": 0.25,
    }
    if spec.num_prompts > 1:
        values.update(_prompt_values(spec))
    values.update(overrides)
    return {k: np.asarray(values[k], dtype=float) for k in spec.param_names}


def _prompt_values(spec: ModelSpec) -> dict[str, np.ndarray]:
    """Moderate values of K >= 2 prompts, different per prompt: weights k / (K (K + 1)) (summing to 1/2),
    and b, nu and tau increasing across prompts (so that they satisfy any ``order``)."""
    k, d = spec.num_prompts, spec.dim
    pattern = np.array([-1.0, 0.5, 0.25, -0.75, 1.5, -0.3, 0.8, 0.1])
    return {
        "lam": np.arange(1, k + 1) / (k * (k + 1)),
        "beta": np.array([np.resize(np.roll([0.8, -0.5, 0.3], i), d) * (1.0 - 0.4 * i) for i in range(k)]),
        "tau": np.linspace(-0.5, 0.5, k),
        "a": np.array([np.resize(np.roll(pattern, 2 * i), d) for i in range(k)]),
        "b": np.linspace(-1.0, 1.0, k),
        "nu": np.linspace(0.2, 0.6, k),
    }


# --------------------------------------------------------------------------------------------
# independent NumPy/SciPy reference
# --------------------------------------------------------------------------------------------


def ref_activation(name: str, z: np.ndarray) -> np.ndarray:
    """The activations of the experts, written with NumPy/SciPy."""
    z = np.asarray(z, dtype=float)
    if name == "linear":
        return z
    if name == "sigmoid":
        return special.expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "gelu":
        return z * stats.norm.cdf(z)
    raise AssertionError(name)


def ref_frozen_mean(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    f = spec.frozen
    z = np.asarray(x, dtype=float) @ np.asarray(f.weight) + (0.0 if f.bias is None else f.bias)
    return ref_activation(f.mean, z)


def ref_prompt_mean(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    z = ref_features(spec, x) @ np.asarray(params["a"], dtype=float)
    if spec.prompt.bias:
        z = z + float(params["b"])
    return ref_activation(spec.prompt.mean, z)


def ref_family_dist(family: str, df: float | None, mean: np.ndarray, nu: float, laplace_reading: str = "variance"):
    """A frozen scipy.stats distribution of an expert with the variance conventions of docs/science.md: *The model*."""
    if family == "gaussian":
        return stats.norm(mean, np.sqrt(nu))
    if family == "laplace":
        scale = nu if laplace_reading == "scale" else np.sqrt(nu / 2.0)
        return stats.laplace(mean, scale)
    return stats.t(df, mean, np.sqrt(nu * (df - 2.0) / df))


def ref_frozen_dist(spec: ModelSpec, mean: np.ndarray):
    """f0 as a frozen scipy.stats distribution (:func:`ref_family_dist`)."""
    f = spec.frozen
    return ref_family_dist(f.family, f.df, mean, f.nu, f.laplace_reading)


def ref_prompt_dist(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray):
    """The prompt g(. | h(x), nu) at x as a frozen scipy.stats distribution (nu its variance)."""
    p = spec.prompt
    return ref_family_dist(p.family, p.df, ref_prompt_mean(spec, params, x), float(params["nu"]))


def ref_log_gate(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log w(x), log(1 - w(x))) of one prompt."""
    n = np.shape(x)[0]
    if spec.gate == "constant":
        lam = float(params["lam"])
        with np.errstate(divide="ignore"):
            return np.full(n, np.log(lam)), np.full(n, np.log1p(-lam))
    logit = ref_features(spec, x) @ np.asarray(params["beta"], dtype=float) + float(params["tau"])
    return special.log_expit(logit), special.log_expit(-logit)


def ref_gate_weight(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    if spec.gate == "constant":
        return np.full(np.shape(x)[0], float(params["lam"]))
    return special.expit(ref_features(spec, x) @ np.asarray(params["beta"], dtype=float) + float(params["tau"]))


def ref_log_likelihood(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pointwise log p(y | x) by SciPy: logaddexp of the two weighted components (one prompt), the
    logsumexp of the K + 1 (:func:`ref_log_gates`, K >= 2 prompts)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    log_f0 = ref_frozen_logpdf(spec, x, y)
    if spec.num_prompts == 1:
        log_w, log_1mw = ref_log_gate(spec, params, x)
        return np.logaddexp(log_1mw + log_f0, log_w + ref_prompt_dist(spec, params, x).logpdf(y))
    log_w, log_w0 = ref_log_gates(spec, params, x)
    terms = np.column_stack([log_w0 + log_f0, log_w + ref_prompt_logpdfs(spec, params, x, y)])
    return special.logsumexp(terms, axis=1)


def ref_cdf(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Conditional mixture CDF F(y | x) = (1 - w) F0(y) + w G(y) (w0 F0(y) + sum_k w_k G_k(y) for K >= 2)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    f0 = ref_frozen_dist_at(spec, x).cdf(y)
    if spec.num_prompts == 1:
        w = ref_gate_weight(spec, params, x)
        return (1.0 - w) * f0 + w * ref_prompt_dist(spec, params, x).cdf(y)
    log_w, log_w0 = ref_log_gates(spec, params, x)
    g = np.column_stack([dist.cdf(y) for dist in ref_prompt_dists(spec, params, x)])
    return np.exp(log_w0) * f0 + np.sum(np.exp(log_w) * g, axis=1)


# --------------------------------------------------------------------------------------------
# the reference with K >= 2 prompts and frozen experts given by their predictions
# --------------------------------------------------------------------------------------------


def ref_features(spec: ModelSpec, x: np.ndarray) -> np.ndarray:
    """The d features of the model's inputs (the columns before any given h0, nu0)."""
    return np.asarray(x, dtype=float)[:, : spec.dim]


def ref_frozen_dist_at(spec: ModelSpec, x: np.ndarray):
    """f0 at the model's inputs x as a frozen scipy.stats distribution, also for an expert given by its
    predictions (h0 the column after the d features, nu0 the last column)."""
    f = spec.frozen
    x = np.asarray(x, dtype=float)
    mean = x[:, spec.dim] if f.mean == "given" else ref_frozen_mean(spec, ref_features(spec, x))
    nu = x[:, -1] if f.nu == "given" else f.nu
    return ref_family_dist(f.family, f.df, mean, nu, f.laplace_reading)


def ref_frozen_logpdf(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log f0(y | h0(x), nu0) at the model's inputs x."""
    return ref_frozen_dist_at(spec, x).logpdf(np.asarray(y, dtype=float))


def ref_prompt_param(spec: ModelSpec, params: Mapping[str, Any], name: str, k: int) -> np.ndarray:
    """Prompt k's value of parameter ``name`` (the value itself with one prompt)."""
    value = np.asarray(params[name], dtype=float)
    return value if spec.num_prompts == 1 else value[k]


def ref_prompt_means(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """h_k(x) = act_k(a_k.x [+ b_k]) of each prompt, shape (n, K)."""
    z = ref_features(spec, x)
    means = []
    for k, p in enumerate(spec.prompts):
        zk = z @ ref_prompt_param(spec, params, "a", k)
        if p.bias:
            zk = zk + float(ref_prompt_param(spec, params, "b", k))
        means.append(ref_activation(p.mean, zk))
    return np.column_stack(means)


def ref_prompt_dists(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray) -> list:
    """Each prompt g_k(. | h_k(x), nu_k) as a frozen scipy.stats distribution (nu_k its variance)."""
    means = ref_prompt_means(spec, params, x)
    return [
        ref_family_dist(p.family, p.df, means[:, k], float(ref_prompt_param(spec, params, "nu", k)))
        for k, p in enumerate(spec.prompts)
    ]


def ref_prompt_logpdfs(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log g_k(y | h_k(x), nu_k), shape (n, K)."""
    return np.column_stack([dist.logpdf(np.asarray(y, dtype=float)) for dist in ref_prompt_dists(spec, params, x)])


def ref_log_gates(spec: ModelSpec, params: Mapping[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log w_k(x), shape (n, K); log w0(x), shape (n,)) for any K.

    Constant gate: w_k = lam_k, w0 = 1 - sum_k lam_k. Sigmoid/softmax gate: the softmax over the
    logits (0, beta_k.x + tau_k), the frozen expert's fixed at 0 (with one prompt: the sigmoid).
    """
    n, k = np.shape(x)[0], spec.num_prompts
    if spec.gate == "constant":
        lam = np.atleast_1d(np.asarray(params["lam"], dtype=float))
        with np.errstate(divide="ignore"):
            return np.tile(np.log(lam), (n, 1)), np.full(n, np.log1p(-np.sum(lam)))
    beta = np.asarray(params["beta"], dtype=float).reshape(k, spec.dim)
    logits = ref_features(spec, x) @ beta.T + np.atleast_1d(np.asarray(params["tau"], dtype=float))
    log_w0 = -special.logsumexp(np.column_stack([np.zeros(n), logits]), axis=1)
    return logits + log_w0[:, None], log_w0


# --------------------------------------------------------------------------------------------
# flattening in the package's label order (sorted names, vectors expanded)
# --------------------------------------------------------------------------------------------


def flatten(spec: ModelSpec, params: Mapping[str, Any]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(params[k], dtype=float)) for k in sorted(spec.param_names)])


def unflatten(spec: ModelSpec, flat: np.ndarray) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for name in sorted(spec.param_names):
        size = int(np.prod(spec.shape(name)))
        out[name] = np.asarray(flat[i : i + size]).reshape(spec.shape(name))
        i += size
    return out


def fd_hessian(fun, theta: np.ndarray, rel_step: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian of a scalar function of a flat vector."""
    theta = np.asarray(theta, dtype=float)
    h = rel_step * np.maximum(np.abs(theta), 1.0)
    k = theta.size
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            value = (fun(theta + ei + ej) - fun(theta + ei - ej) - fun(theta - ei + ej) + fun(theta - ei - ej)) / (
                4.0 * h[i] * h[j]
            )
            hess[i, j] = hess[j, i] = value
    return hess


def ref_prior_logpdf(prior, value) -> float:
    """log density of a :class:`~bayescmoe.model.priors.Prior` at ``value`` (summed over entries), by SciPy.

    NumPyro's parametrisations: LogNormal(loc, scale) of log x, InverseGamma(concentration, rate). A
    ``dirichlet`` prior is that of (w0, lam) with w0 = 1 - sum lam (Beta(alpha_1, alpha_0) for one prompt).
    An iid prior on an ordered vector has log K! more (:func:`ref_param_log_prior`).
    """
    value = np.asarray(value, dtype=float)
    args = prior.args
    if prior.family == "dirichlet":  # Dirichlet(alpha_0, ..., alpha_K) of (w0, lam_1, ..., lam_K)
        weights = np.concatenate([[1.0 - np.sum(value)], np.atleast_1d(value)])
        return float(stats.dirichlet.logpdf(weights, np.broadcast_to(args, weights.shape)))
    frozen = {
        "flat": None,
        "normal": lambda: stats.norm(args[0], args[1]),
        "beta": lambda: stats.beta(args[0], args[1]),
        "lognormal": lambda: stats.lognorm(s=args[1], scale=np.exp(args[0])),
        "inversegamma": lambda: stats.invgamma(a=args[0], scale=args[1]),
        "halfnormal": lambda: stats.halfnorm(scale=args[0]),
        "halfcauchy": lambda: stats.halfcauchy(scale=args[0]),
    }[prior.family]
    return 0.0 if frozen is None else float(np.sum(frozen().logpdf(value)))


def ref_param_log_prior(spec: ModelSpec, name: str, value) -> float:
    """log prior of parameter ``name`` at ``value``: under an ordering constraint an iid prior restricted to the
    ordered cone, whose density there (that of the sorted iid draws) is K! times the iid one."""
    log_prior = ref_prior_logpdf(spec.prior(name), value)
    if spec.support(name) in ("ordered", "positive_ordered") and spec.prior(name).family != "flat":
        log_prior += math.lgamma(spec.num_prompts + 1)
    return log_prior


def ref_log_prior(spec: ModelSpec, params: Mapping[str, Any]) -> float:
    return sum(ref_param_log_prior(spec, name, params[name]) for name in spec.param_names)


def quiet_fit(*args: Any, **kwargs: Any) -> Any:
    """``bayescmoe.fit`` without its FitWarnings: the tests' short runs warn about R-hat and ESS by design."""
    from bayescmoe.errors import FitWarning
    from bayescmoe.workflow.fitting import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return fit(*args, **kwargs)


def raises_field(field: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Exception:
    """Call ``fn``; it must raise a :class:`~bayescmoe.errors.BayescmoeError` (a ValueError) naming ``field`` first."""
    import pytest

    from bayescmoe.errors import BayescmoeError

    with pytest.raises(BayescmoeError) as err:
        fn(*args, **kwargs)
    assert err.value.field == field, str(err.value)
    assert isinstance(err.value, ValueError)
    assert str(err.value).startswith(f"{field}: ")
    return err.value
