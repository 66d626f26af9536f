"""Independent implementations written from the maths, shared by the tests and the benchmarks.

Nothing here calls the package's numerics (it reads a spec's fields only), so a test that compares
them with the package compares two implementations, and a benchmark that times the package against
them times it against what a user would write without it:

- :func:`baseline_em`: the MLE as the papers computed it, one fit at a time, EM in NumPy/SciPy
  (densities from :mod:`helpers`' SciPy references). E-step: responsibilities
  r = expit(log w N - log (1 - w) f0); M-step: constant gate lam = mean(r), sigmoid gate by
  ``scipy.optimize.minimize(method="BFGS")`` on the weighted logistic loss in (beta, tau), the
  prompt's mean parameters by BFGS on the weighted squared error (also for linear experts, as a
  naive user would), nu the weighted mean squared residual; SciPy's finite-difference gradients
  unless ``analytic``. ``benchmarks/sweep_speed.py`` times the sweep engine against it.
- :func:`numpyro_model`: the posterior written as a plain NumPyro model (priors, then
  ``MixtureGeneral``) from a spec's config (:func:`describe`); ``benchmarks/peers.py`` samples it
  as the "hand-written NumPyro" contestant. With K >= 2 (Gaussian) prompts it samples the K + 1
  weights as a user would, ``w ~ Dirichlet(alpha)`` with the frozen expert's weight first, and keeps
  the prompts' weights as the deterministic site ``lam = w[1:]`` (:attr:`Description.sites`,
  :func:`to_sites`). NumPyro unconstrains w by its own stick-breaking map of (w0, lam_1, ..., lam_K),
  the package lam by its sub-simplex map, NumPyro's stick-breaking of (lam_1, ..., lam_K, w0): the
  same posterior in a different parametrisation, so the two unconstrained densities are equal only
  after the change of variables between them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from helpers import ref_activation, ref_frozen_dist, ref_frozen_mean, ref_log_gate, ref_prompt_mean
from scipy import optimize, special, stats

from bayescmoe.inference.em import INNER_TOL
from bayescmoe.model.spec import ModelSpec

Params = dict[str, np.ndarray]

# --------------------------------------------------------------------------------------------
# EM in NumPy/SciPy
# --------------------------------------------------------------------------------------------

#: the derivatives of the activations (``analytic=True``)
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
    """log f0(y | h0(x), nu0) by scipy.stats (:func:`helpers.ref_frozen_dist`)."""
    return ref_frozen_dist(spec, ref_frozen_mean(spec, x)).logpdf(y)


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
    log_w, log_1mw = ref_log_gate(spec, params, x)
    return log_1mw + log_f0, log_w + stats.norm.logpdf(y, ref_prompt_mean(spec, params, x), np.sqrt(params["nu"]))


def _gate_loss(v: np.ndarray, x: np.ndarray, r: np.ndarray) -> float:
    """-(1/n) sum [r log w + (1 - r) log(1 - w)] of the sigmoid gate, v = (beta, tau)."""
    z = x @ v[:-1] + v[-1]
    return -np.mean(r * special.log_expit(z) + (1 - r) * special.log_expit(-z))


def _gate_grad(v: np.ndarray, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    g = special.expit(x @ v[:-1] + v[-1]) - r
    return np.append(x.T @ g, g.sum()) / len(r)


def _prompt_loss(v: np.ndarray, spec: ModelSpec, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> float:
    """Weighted mean squared error sum r (y - h(x))^2 / sum r, v = (a, [b])."""
    return np.sum(r * (y - ref_activation(spec.prompt.mean, _prompt_logit(spec, v, x))) ** 2) / np.sum(r)


def _prompt_grad(v: np.ndarray, spec: ModelSpec, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    z = _prompt_logit(spec, v, x)
    g = -2 * r * (y - ref_activation(spec.prompt.mean, z)) * SLOPES[spec.prompt.mean](z) / np.sum(r)
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
# the posterior as a hand-written NumPyro model, from a spec's plain description
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Description:
    """What the hand-written models need of a spec, read from ``ModelSpec.to_config()``.

    ``prompt_means``: the K prompts' mean functions (all Gaussian, with or without the one shared
    bias); K = 1 is the papers' model, whose parameters have no prompt axis.
    """

    gate: str
    family: str
    df: float | None
    laplace_reading: str
    frozen_mean: str
    weight: tuple[float, ...]
    bias: float | None
    nu0: float
    prompt_means: tuple[str, ...]
    prompt_bias: bool
    priors: dict[str, tuple[str, tuple[float, ...]]]

    @property
    def dim(self) -> int:
        return len(self.weight)

    @property
    def num_prompts(self) -> int:
        """K, the number of prompts."""
        return len(self.prompt_means)

    @property
    def prompt_mean(self) -> str:
        """The mean function of the one prompt (K = 1)."""
        assert self.num_prompts == 1, "K >= 2 prompts: see prompt_means"
        return self.prompt_means[0]

    @property
    def names(self) -> tuple[str, ...]:
        """The package's parameters (``ModelSpec.param_names``)."""
        gate = ("lam",) if self.gate == "constant" else ("beta", "tau")
        return gate + (("a", "b", "nu") if self.prompt_bias else ("a", "nu"))

    @property
    def sites(self) -> tuple[str, ...]:
        """The hand-written models' sampled parameters: :attr:`names`, with the K + 1 weights ``w`` (frozen
        first) in place of lam for K >= 2 prompts (lam = w[1:] is then a deterministic site)."""
        return tuple("w" if name == "lam" and self.num_prompts > 1 else name for name in self.names)

    def shape(self, name: str) -> tuple[int, ...]:
        """A parameter's shape; K >= 2 prompts add a leading axis of length K (``w``: K + 1 weights)."""
        if name == "w":
            return (self.num_prompts + 1,)
        lead = (self.num_prompts,) if self.num_prompts > 1 else ()
        return lead + ((self.dim,) if name in ("a", "beta") else ())

    def support(self, name: str) -> str:
        if name == "lam" and self.num_prompts > 1:
            return "simplex"
        return {"lam": "unit", "nu": "positive"}.get(name, "real")

    def weight_concentration(self) -> np.ndarray | None:
        """K >= 2: the Dirichlet concentration of (w0, lam_1, ..., lam_K), None for a flat prior."""
        family, args = self.priors["lam"]
        if family == "flat":
            return None
        assert family == "dirichlet", family
        return np.broadcast_to(np.asarray(args, dtype=float), (self.num_prompts + 1,)).copy()

    def frozen_scale(self) -> float:
        """The frozen family's scale parameter whose variance is nu0 (or the Laplace scale itself)."""
        if self.family == "gaussian":
            return math.sqrt(self.nu0)
        if self.family == "laplace":
            return self.nu0 if self.laplace_reading == "scale" else math.sqrt(self.nu0 / 2.0)
        assert self.df is not None
        return math.sqrt(self.nu0 * (self.df - 2.0) / self.df)


def describe(config: Mapping[str, Any]) -> Description:
    """The :class:`Description` of a spec's config; raises for what the hand-written models do not cover."""
    frozen = config["frozen"]
    prompts = config["prompt"] if isinstance(config["prompt"], list) else [config["prompt"]]
    if frozen.get("mean") == "given" or frozen.get("nu") == "given":
        raise NotImplementedError("peers.py writes out frozen experts with a mean function and a fixed variance only")
    if any(prompt.get("family", "gaussian") != "gaussian" for prompt in prompts):
        raise NotImplementedError("peers.py writes out Gaussian prompts only")
    if config.get("order") is not None:
        raise NotImplementedError("peers.py writes out no ordering constraint (each tool has its own)")
    priors = {}
    for name, prior in config["priors"].items():
        priors[name] = (prior, ()) if isinstance(prior, str) else (prior[0], tuple(float(v) for v in prior[1:]))
    return Description(
        gate=config["gate"],
        family=frozen["family"],
        df=frozen.get("df"),
        laplace_reading=frozen.get("laplace_reading", "variance"),
        frozen_mean=frozen["mean"],
        weight=tuple(float(v) for v in frozen["weight"]),
        bias=frozen.get("bias"),
        nu0=float(frozen["nu"]),
        prompt_means=tuple(prompt["mean"] for prompt in prompts),
        prompt_bias=bool(prompts[0]["bias"]),
        priors=priors,
    )


def to_sites(desc: Description, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The package's parameters as the hand-written models' sites (:attr:`Description.sites`): for K >= 2
    prompts, w = (1 - sum lam, lam) in place of lam."""
    out = {name: np.asarray(value, dtype=float) for name, value in params.items()}
    if desc.num_prompts > 1 and "lam" in out:
        lam = out.pop("lam")
        out["w"] = np.concatenate([1.0 - np.sum(lam, -1, keepdims=True), lam], -1)
    return out


def numpyro_model(desc: Description) -> Callable[..., None]:
    """A plain NumPyro model of the posterior: priors, then y ~ MixtureGeneral(gate, [f0, N(h, nu)]).

    K >= 2 prompts: ``w ~ Dirichlet(alpha)`` (``ImproperUniform`` on the simplex under a flat prior),
    the deterministic ``lam = w[1:]``, then y ~ MixtureGeneral(Categorical(w), [f0, N(h_1, nu_1), ...,
    N(h_K, nu_K)]); the softmax gate's probabilities are softmax(0, beta_k.x + tau_k).
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    acts: dict[str, Callable[[Any], Any]] = {
        "linear": lambda z: z,
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "relu": jax.nn.relu,
        "gelu": lambda z: 0.5 * z * (1.0 + jax.scipy.special.erf(z / math.sqrt(2.0))),
    }
    supports = {"real": constraints.real, "unit": constraints.unit_interval, "positive": constraints.positive}

    def prior(name: str) -> dist.Distribution:
        family, args = desc.priors[name]
        shape = desc.shape(name)
        if family == "flat":
            return dist.ImproperUniform(supports[desc.support(name)], (), shape)
        base = {
            "normal": dist.Normal,
            "beta": dist.Beta,
            "lognormal": dist.LogNormal,
            "inversegamma": dist.InverseGamma,
            "halfnormal": dist.HalfNormal,
            "halfcauchy": dist.HalfCauchy,
        }[family](*args)
        return base.expand(shape).to_event(len(shape)) if shape else base

    def weights() -> dist.Distribution:
        """The K + 1 weights (frozen first) of K >= 2 prompts."""
        alpha = desc.weight_concentration()
        if alpha is None:
            return dist.ImproperUniform(constraints.simplex, (), (desc.num_prompts + 1,))
        return dist.Dirichlet(jnp.asarray(alpha))

    w0, scale0 = jnp.asarray(desc.weight), desc.frozen_scale()

    def frozen(x: Any) -> dist.Distribution:
        h0 = acts[desc.frozen_mean](x @ w0 + (0.0 if desc.bias is None else desc.bias))
        if desc.family == "gaussian":
            return dist.Normal(h0, scale0)
        if desc.family == "laplace":
            return dist.Laplace(h0, scale0)
        return dist.StudentT(desc.df, h0, scale0)

    def one(x: Any, p: Mapping[str, Any]) -> tuple[dist.Distribution, list[dist.Distribution]]:
        """The papers' model: the gate and [f0, N(h, nu)]."""
        h = acts[desc.prompt_mean](x @ p["a"] + (p["b"] if desc.prompt_bias else 0.0))
        if desc.gate == "constant":
            mixing = dist.Categorical(probs=jnp.stack([1.0 - p["lam"], p["lam"]]))
        else:
            logit = x @ p["beta"] + p["tau"]
            mixing = dist.Categorical(logits=jnp.stack([jnp.zeros_like(logit), logit], axis=-1))
        return mixing, [frozen(x), dist.Normal(h, jnp.sqrt(p["nu"]))]

    def many(x: Any, p: Mapping[str, Any]) -> tuple[dist.Distribution, list[dist.Distribution]]:
        """K >= 2 prompts: the gate over K + 1 experts and [f0, N(h_1, nu_1), ..., N(h_K, nu_K)]."""
        z = x @ p["a"].T + (p["b"] if desc.prompt_bias else 0.0)  # (n, K)
        prompts = [dist.Normal(acts[m](z[:, k]), jnp.sqrt(p["nu"][k])) for k, m in enumerate(desc.prompt_means)]
        if desc.gate == "constant":
            mixing = dist.Categorical(probs=p["w"])
        else:
            logits = x @ p["beta"].T + p["tau"]  # (n, K); the frozen expert's logit is 0
            mixing = dist.Categorical(logits=jnp.concatenate([jnp.zeros_like(logits[:, :1]), logits], axis=1))
        return mixing, [frozen(x), *prompts]

    def model(x: Any, y: Any = None) -> None:
        p = {name: numpyro.sample(name, weights() if name == "w" else prior(name)) for name in desc.sites}
        if "w" in p:
            p["lam"] = numpyro.deterministic("lam", p["w"][1:])
        mixing, experts = (one if desc.num_prompts == 1 else many)(x, p)
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.MixtureGeneral(mixing, experts), obs=y)

    return model


def unconstrained_density(
    model: Callable[..., None], u: Mapping[str, Any], x: Any, y: Any, names: Sequence[str]
) -> tuple[float, np.ndarray]:
    """A NumPyro model's log density on the unconstrained scale (Jacobians included) and its gradient."""
    import jax
    from numpyro.infer.util import potential_energy

    value, grad = jax.value_and_grad(lambda v: -potential_energy(model, (x, y), {}, v))(u)
    return float(value), np.concatenate([np.ravel(grad[k]) for k in names])


def weights_change(to_lam: Callable[[Any], Any], to_theirs: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """phi: one unconstrained scale of K >= 2 prompts' weights onto another, v (K,) -> v' (K,).

    ``to_lam`` maps v onto lam (e.g. the package's sub-simplex map), ``to_theirs`` the K + 1 weights
    w = (1 - sum lam, lam) onto the other tool's unconstrained scale (the inverse of its simplex map).
    Both in JAX, so that :func:`pull_back_weights` differentiates phi.
    """
    import jax.numpy as jnp

    def phi(v: Any) -> Any:
        lam = to_lam(v)
        return to_theirs(jnp.concatenate([1.0 - jnp.sum(lam, keepdims=True), lam]))

    return phi


def pull_back_weights(
    desc: Description, phi: Callable[[Any], Any], v: Any, value: float, grad: np.ndarray
) -> tuple[float, np.ndarray]:
    """Another tool's unconstrained log density and gradient at phi(v) in the weights' block, as densities on
    ``v``'s scale: value + log|det Dphi(v)|, and the weights' block of the gradient Dphi(v)^T g + grad log|det Dphi|
    (phi by :func:`weights_change`; its Jacobian by autodiff, not by either tool's transform). ``grad`` is
    ordered as :attr:`Description.sites` (each unconstrained block flattened; w's has K entries), like
    :func:`unconstrained_density`'s."""
    import jax
    import jax.numpy as jnp

    k = desc.num_prompts
    start = sum(math.prod(desc.shape(name)) for name in desc.names[: desc.names.index("lam")])
    jac = jax.jacfwd(phi)(jnp.asarray(v))
    log_det, d_log_det = jax.value_and_grad(lambda u: jnp.linalg.slogdet(jax.jacfwd(phi)(u))[1])(jnp.asarray(v))
    out = np.array(grad, dtype=float)
    out[start : start + k] = np.asarray(jac).T @ out[start : start + k] + np.asarray(d_log_det)
    return float(value + log_det), out
