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
  as the "hand-written NumPyro" contestant.
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
    """What the hand-written models need of a spec, read from ``ModelSpec.to_config()``."""

    gate: str
    family: str
    df: float | None
    laplace_reading: str
    frozen_mean: str
    weight: tuple[float, ...]
    bias: float | None
    nu0: float
    prompt_mean: str
    prompt_bias: bool
    priors: dict[str, tuple[str, tuple[float, ...]]]

    @property
    def dim(self) -> int:
        return len(self.weight)

    @property
    def names(self) -> tuple[str, ...]:
        gate = ("lam",) if self.gate == "constant" else ("beta", "tau")
        return gate + (("a", "b", "nu") if self.prompt_bias else ("a", "nu"))

    def shape(self, name: str) -> tuple[int, ...]:
        return (self.dim,) if name in ("a", "beta") else ()

    def support(self, name: str) -> str:
        return {"lam": "unit", "nu": "positive"}.get(name, "real")

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
    frozen, prompt = config["frozen"], config["prompt"]
    if frozen.get("mean") == "given" or frozen.get("nu") == "given":
        raise NotImplementedError("peers.py writes out frozen experts with a mean function and a fixed variance only")
    if prompt.get("family", "gaussian") != "gaussian":
        raise NotImplementedError("peers.py writes out the Gaussian prompt only")
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
        prompt_mean=prompt["mean"],
        prompt_bias=bool(prompt["bias"]),
        priors=priors,
    )


def numpyro_model(desc: Description) -> Callable[..., None]:
    """A plain NumPyro model of the posterior: priors, then y ~ MixtureGeneral(gate, [f0, N(h, nu)])."""
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
        return base.expand(shape).to_event(1) if shape else base

    w0, scale0 = jnp.asarray(desc.weight), desc.frozen_scale()

    def model(x: Any, y: Any = None) -> None:
        p = {name: numpyro.sample(name, prior(name)) for name in desc.names}
        z0 = x @ w0 + (0.0 if desc.bias is None else desc.bias)
        h0 = acts[desc.frozen_mean](z0)
        h = acts[desc.prompt_mean](x @ p["a"] + (p["b"] if desc.prompt_bias else 0.0))
        if desc.family == "gaussian":
            f0 = dist.Normal(h0, scale0)
        elif desc.family == "laplace":
            f0 = dist.Laplace(h0, scale0)
        else:
            f0 = dist.StudentT(desc.df, h0, scale0)
        if desc.gate == "constant":
            mixing = dist.Categorical(probs=jnp.stack([1.0 - p["lam"], p["lam"]]))
        else:
            logit = x @ p["beta"] + p["tau"]
            mixing = dist.Categorical(logits=jnp.stack([jnp.zeros_like(logit), logit], axis=-1))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.MixtureGeneral(mixing, [f0, dist.Normal(h, jnp.sqrt(p["nu"]))]), obs=y)

    return model


def unconstrained_density(
    model: Callable[..., None], u: Mapping[str, Any], x: Any, y: Any, names: Sequence[str]
) -> tuple[float, np.ndarray]:
    """A NumPyro model's log density on the unconstrained scale (Jacobians included) and its gradient."""
    import jax
    from numpyro.infer.util import potential_energy

    value, grad = jax.value_and_grad(lambda v: -potential_energy(model, (x, y), {}, v))(u)
    return float(value), np.concatenate([np.ravel(grad[k]) for k in names])
