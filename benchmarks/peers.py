"""NUTS against its peers: min ESS-bulk and min ESS-tail per second of wall time.

    make bench-peers                                   # builds benchmarks/.venv-peers, runs this
    benchmarks/.venv-peers/bin/python benchmarks/peers.py --quick      # the harness end to end, 3-5 min
    benchmarks/.venv-peers/bin/python benchmarks/peers.py --reps 3 --out results/peers

PyMC, nutpie and numba come from the optional extra ``peers`` (``pip install -e ".[peers]"``), in
an environment of the benchmark's own; they are never dependencies of the package.

Contestants (a registry: ``--contestants`` picks some; a name whose code is missing, e.g. a
removed ``compiled_nuts``, is skipped with a note):

- ``fit_nuts``: :func:`bayescmoe.fit_nuts`, the public one-off fit.
- ``fit_nuts-regularised`` (off by default): the same with NumPyro's mass-matrix regularisation
  (``regularize_mass_matrix=True``), bayescmoe's sampler with NumPyro's default options.
- ``compiled_nuts``: :func:`bayescmoe.inference.nuts.compiled_nuts`, NUTS jitted as a function of the data.
- ``numpyro``: a plain NumPyro model written here from the setting's spec (``dist.MixtureGeneral``
  of the frozen expert and a Normal prompt, the same priors), run by ``MCMC(NUTS(model))`` as a
  user would: parallel chains, ``jit_model_args=True``, one ``MCMC`` object reused for new data.
  With K >= 2 prompts (``p1-two-prompts``) the user's model samples the K + 1 weights
  ``w ~ dist.Dirichlet(alpha)`` (frozen expert first; NumPyro's own stick-breaking of (w0, lam)),
  keeps ``lam = w[1:]`` as a deterministic site, and mixes [f0, N(h_1, nu_1), ..., N(h_K, nu_K)].
- ``numpyro-same-mass``: the same, with the NUTS options of bayescmoe's sampler
  (:func:`our_nuts_options`: mass-matrix regularisation off), so that its ratio isolates what
  bayescmoe's program and likelihood add beyond the mass matrix.
- ``nutpie``: a PyMC model of the same posterior (``pm.Mixture``, ``pm.Data`` for x and y; for K >= 2
  prompts ``pm.Dirichlet`` over (w0, lam), ``lam = w[1:]`` deterministic, ``pm.Mixture`` of K + 1
  experts), ``nutpie.compile_pymc_model(model, backend="numba")`` then ``nutpie.sample``; new data
  through ``compiled.with_data``.
- ``pymc`` (off by default): the same PyMC model sampled by PyMC's own NUTS (``nuts_sampler="pymc"``;
  with nutpie installed ``pm.sample`` would otherwise use nutpie), new data by ``pm.set_data``.

Protocol:

1. Data: for each setting, two datasets of the same shape from ``bayescmoe.simulate`` at the
   setting's truth (n = ``--n``, keys ``--seed`` and ``--seed + 1``), the same for every contestant.
2. Agreement: in a subprocess with the workers' environment, every contestant's log posterior
   (log-likelihood + log prior) is compared with bayescmoe's ``log_posterior`` at 4 parameter
   points (the truth, the truth moved by 0.1 and 0.5 standard normals on the unconstrained scale,
   a point uniform in (-2, 2) there, NumPyro's init region), on the natural scale (no Jacobian)
   and on the unconstrained scale the samplers see (with the Jacobians: NumPyro's logit/exp and
   PyMC's logodds/log transforms are the same maps), plus the unconstrained gradient. PyMC's
   densities are compiled with the numba backend, as nutpie uses. Relative error above
   ``--tolerance`` (1e-8) on a value, or above 1e-6 on a gradient (max-norm), aborts the benchmark.
   The weights of K >= 2 prompts are unconstrained by three different maps (:data:`WEIGHTS_MAPS`:
   ours, NumPyro's for a Dirichlet of (w0, lam), PyMC's simplex transform): the unconstrained value
   and gradient of a contestant are taken at the image phi(v) of our point v on its own scale and
   pulled back to v by the change of variables (:func:`reference.pull_back_weights`; Dphi by
   autodiff), the same tolerances; the natural scale is compared directly. The table says so.
3. Timing: each (repetition, setting, contestant) runs in a fresh worker process: the *first
   call* (model building, compilation and sampling on dataset 1, timed after the libraries are
   imported; import time is recorded apart) and then the *repeated call* (the same contestant in
   the same process on dataset 2: what a user pays per new dataset of the same shape). Contestants
   are interleaved: the order rotates by one every repetition and every setting, so drift in the
   machine's load spreads over all of them. Medians over ``--reps`` are reported.
4. Caches: ``--cache cold`` (default) gives every worker empty compilation caches (JAX's
   persistent cache through ``BAYESCMOE_COMPILATION_CACHE``, PyTensor's ``compiledir`` through
   ``PYTENSOR_FLAGS`` and ``NUMBA_CACHE_DIR``), so a first call compiles everything;
   ``--cache warm`` shares one set of cache folders over the run and primes them with an untimed
   repetition first, so a first call finds its compiled code on disk (a user's second session).
5. Environment of every worker: ``OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = OMP_NUM_THREADS = 1``,
   ``BAYESCMOE_CPU_DEVICES = --chains`` (JAX's chains run in parallel on virtual CPU devices),
   ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset (they slow a current OpenBLAS, which only the
   PyMC side uses; ``--keep-openblas-env`` keeps them), ``JAX_COMPILATION_CACHE_DIR`` unset. The JAX
   contestants share bayescmoe's runtime (float64 on import, ``bayescmoe.configure()``: virtual CPU
   devices, persistent cache); PyMC's side uses float64 too (PyTensor's default ``floatX``).
6. Samplers: ``--chains`` x (``--warmup`` + ``--draws``), each sampler's defaults otherwise: target
   acceptance 0.8, tree depth 10, a diagonal mass matrix (NumPyro and PyMC: Stan-style windowed
   adaptation from draw variances; nutpie: its own adaptation from draw and gradient variances).
   bayescmoe's sampler differs from NumPyro's defaults in one option, printed with the table
   (:func:`options_against_numpyro`): the adapted variances are not shrunk towards 1e-3
   (``regularize_mass_matrix=False``); ``numpyro-same-mass`` shares it.
   ``--init default`` starts each sampler as it starts by default: NumPyro (the JAX
   contestants) uniform in (-2, 2) on the unconstrained scale, independently per chain; nutpie and
   PyMC at the prior's support point (mean) plus U(-1, 1) jitter on the unconstrained scale.
   ``--init truth`` starts every chain of every contestant at the setting's truth (no jitter).
   K >= 2 prompts: no contestant is given an ordering constraint (each tool has its own), so under
   ``--init default`` chains settle in different labellings of the prompts (label switching; every
   contestant split its chains in 5 of 6 calls on p1-two-prompts); step 7's *split chains* column
   reports it. ``--init auto``, the default, therefore starts the settings with several prompts at
   the truth and the others at each sampler's default start (:func:`init_for`).
7. Metrics, computed outside the timed region from the post-warmup draws: ESS-bulk and ESS-tail
   of every scalar parameter (each element of a and beta; for K >= 2 prompts each element of lam,
   a, b and nu, never the hand-written models' w), each from one ArviZ call
   (``az.ess(..., method="bulk")``, ``method="tail"``, on a DataTree with dims chain, draw); min
   ESS / wall seconds for each; wall seconds; mean leapfrog steps per draw (NumPyro ``num_steps``,
   nutpie and PyMC ``n_steps``; not recorded by ``compiled_nuts``); divergences after warmup; for
   K >= 2 prompts the labelling of each chain (:func:`labellings`) and the *split chains*, those
   outside the most common labelling, whose rows' ESS then measures the split, not the sampler. The
   table shows medians over the repetitions with their ranges; the ratio columns divide the min
   ESS/s of bayescmoe's contestant (``fit_nuts``, else ``compiled_nuts``) by the row's within each
   repetition (the two ran side by side), median and range over the repetitions: >= 1 means
   bayescmoe is at least as fast.

Results go to ``--out`` (default ``results/peers``, git-ignored): ``peers.json`` (every worker's
record, the agreement table, the settings) and ``peers.md`` (the tables printed at the end).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("p1-family", "p2-distinguishable", "p1-two-prompts")
#: contestant -> the library side it runs on ("jax" workers import bayescmoe, "pymc" workers PyMC)
SIDES = {
    "fit_nuts": "jax",
    "fit_nuts-regularised": "jax",
    "compiled_nuts": "jax",
    "numpyro": "jax",
    "numpyro-same-mass": "jax",
    "nutpie": "pymc",
    "pymc": "pymc",
}
DEFAULT_CONTESTANTS = ("fit_nuts", "compiled_nuts", "numpyro", "numpyro-same-mass", "nutpie")
#: ours: the first of these that runs is the one whose speed the ratio columns put over each row's
OURS = ("fit_nuts", "compiled_nuts")
#: the ESS estimators reported (ArviZ's ``method``), each as min ESS and min ESS per second
ESS_METHODS = ("bulk", "tail")
GRAD_TOLERANCE = 1e-6
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
Draws = dict[str, np.ndarray]

sys.path.insert(0, str(ROOT / "tests"))  # the hand-written NumPyro model the tests check
from reference import (  # noqa: E402
    Description,
    describe,
    numpyro_model,
    pull_back_weights,
    to_sites,
    unconstrained_density,
    weights_change,
)

# ---------------------------------------------------------------------------------------------
# The hand-written models: NumPyro's lives in tests/reference.py (the tests check it against the
# package), PyMC's here, both written out from a spec's plain description (ModelSpec.to_config).
# ---------------------------------------------------------------------------------------------


def pymc_model(desc: Description, x: np.ndarray, y: np.ndarray) -> Any:
    """The PyMC model of the same posterior; x and y are ``pm.Data`` (new data without a rebuild).

    K >= 2 prompts: ``w ~ pm.Dirichlet`` over (w0, lam_1, ..., lam_K) (Dirichlet(1, ..., 1) less its
    constant log K! under a flat prior), the deterministic ``lam = w[1:]``, then ``pm.Mixture`` of the
    K + 1 experts.
    """
    import pymc as pm
    import pytensor.tensor as pt

    acts: dict[str, Callable[[Any], Any]] = {
        "linear": lambda z: z,
        "tanh": pt.tanh,
        "sigmoid": pt.sigmoid,
        "relu": lambda z: pt.maximum(z, 0.0),
        "gelu": lambda z: 0.5 * z * (1.0 + pt.erf(z / math.sqrt(2.0))),
    }

    def prior(name: str) -> Any:
        family, floats = desc.priors[name]
        # float64 arguments: PyTensor stores a Python float that float32 holds exactly (3.0) as float32, and
        # PyMC's Normal then computes log(sigma) in float32 (2e-8 off per element)
        args = tuple(np.float64(v) for v in floats)
        shape = desc.shape(name) or None
        if family == "flat":
            kind = desc.support(name)
            if kind == "unit":
                return pm.Uniform(name, 0.0, 1.0, shape=shape)
            return (pm.HalfFlat if kind == "positive" else pm.Flat)(name, shape=shape)
        make = {
            "normal": lambda: pm.Normal(name, mu=args[0], sigma=args[1], shape=shape),
            "beta": lambda: pm.Beta(name, alpha=args[0], beta=args[1], shape=shape),
            "lognormal": lambda: pm.LogNormal(name, mu=args[0], sigma=args[1], shape=shape),
            "inversegamma": lambda: pm.InverseGamma(name, alpha=args[0], beta=args[1], shape=shape),
            "halfnormal": lambda: pm.HalfNormal(name, sigma=args[0], shape=shape),
            "halfcauchy": lambda: pm.HalfCauchy(name, beta=args[0], shape=shape),
        }
        return make[family]()

    def weights() -> Any:
        """The K + 1 weights (frozen first) of K >= 2 prompts."""
        alpha = desc.weight_concentration()
        if alpha is not None:
            return pm.Dirichlet("w", a=alpha)
        w = pm.Dirichlet("w", a=np.ones(desc.num_prompts + 1))
        # Dirichlet(1, ..., 1) is K! on the simplex
        pm.Potential("flat_w", pt.as_tensor(np.float64(-math.lgamma(desc.num_prompts + 1))))
        return w

    with pm.Model() as model:
        xd = pm.Data("x", x)
        yd = pm.Data("y", y)
        p = {name: weights() if name == "w" else prior(name) for name in desc.sites}
        if "w" in p:
            p["lam"] = pm.Deterministic("lam", p["w"][1:])
        z0 = pt.dot(xd, np.asarray(desc.weight)) + np.float64(0.0 if desc.bias is None else desc.bias)
        h0 = acts[desc.frozen_mean](z0)
        scale0 = np.float64(desc.frozen_scale())  # float64, as the priors' arguments (df = 5.0 would be float32)
        if desc.family == "gaussian":
            f0 = pm.Normal.dist(mu=h0, sigma=scale0)
        elif desc.family == "laplace":
            f0 = pm.Laplace.dist(mu=h0, b=scale0)
        else:
            f0 = pm.StudentT.dist(nu=np.float64(desc.df), mu=h0, sigma=scale0)
        if desc.num_prompts == 1:
            h = acts[desc.prompt_mean](pt.dot(xd, p["a"]) + (p["b"] if desc.prompt_bias else 0.0))
            prompts = [pm.Normal.dist(mu=h, sigma=pt.sqrt(p["nu"]))]
            if desc.gate == "constant":
                w = pt.stack([1.0 - p["lam"], p["lam"]])
            else:
                logit = pt.dot(xd, p["beta"]) + p["tau"]
                w = pt.stack([pt.sigmoid(-logit), pt.sigmoid(logit)], axis=-1)
        else:
            z = pt.dot(xd, p["a"].T) + (p["b"] if desc.prompt_bias else 0.0)  # (n, K)
            prompts = [
                pm.Normal.dist(mu=acts[mean](z[:, k]), sigma=pt.sqrt(p["nu"][k]))
                for k, mean in enumerate(desc.prompt_means)
            ]
            if desc.gate == "constant":
                w = p["w"]
            else:
                logits = pt.dot(xd, p["beta"].T) + p["tau"]  # (n, K); the frozen expert's logit is 0
                w = pt.special.softmax(pt.concatenate([pt.zeros_like(logits[:, :1]), logits], axis=1), axis=-1)
        pm.Mixture("y_obs", w=w, comp_dists=[f0, *prompts], observed=yd)
    return model


# ---------------------------------------------------------------------------------------------
# Contestants: prepare(desc, spec, x, y, opts) -> call(x, y, seed) -> Run
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    """Post-warmup draws by chain (natural scale), divergences, leapfrog steps per draw if known."""

    draws: Draws
    divergences: int
    steps_per_draw: float | None


@dataclass(frozen=True)
class Options:
    """Sampler sizes and the init policy, the same for every contestant."""

    warmup: int
    draws: int
    chains: int
    cores: int
    init: str
    truth: dict[str, np.ndarray]


Call = Callable[[np.ndarray, np.ndarray, int], Run]


def _by_chain(samples: Mapping[str, Any]) -> Draws:
    return {k: np.asarray(v, dtype=float) for k, v in samples.items()}


def prepare_fit_nuts(
    desc: Description, spec: Any, x: np.ndarray, y: np.ndarray, opts: Options, regularised: bool = False
) -> Call:
    """``fit_nuts`` as a user calls it; ``regularised``: with NumPyro's mass-matrix regularisation turned back on."""
    import bayescmoe

    extra = {"regularize_mass_matrix": True} if regularised else {}

    init = opts.truth if opts.init == "truth" else None

    def call(x: np.ndarray, y: np.ndarray, seed: int) -> Run:
        sizes = {"num_warmup": opts.warmup, "num_samples": opts.draws, "num_chains": opts.chains}
        fit = bayescmoe.fit_nuts(spec, x, y, key=seed, init=init, **sizes, **extra)  # no bar off a terminal
        if hasattr(fit, "stats"):  # a NutsFit: draws and statistics by chain
            samples, stats = fit.samples, fit.stats
        else:  # an earlier bayescmoe: NumPyro's MCMC
            samples, stats = fit.get_samples(group_by_chain=True), fit.get_extra_fields(group_by_chain=True)
        steps = float(np.mean(stats["num_steps"])) if "num_steps" in stats else None
        return Run(_by_chain(samples), int(np.sum(stats["diverging"])), steps)

    return call


def prepare_compiled_nuts(desc: Description, spec: Any, x: np.ndarray, y: np.ndarray, opts: Options) -> Call:
    import jax

    from bayescmoe.inference import nuts

    run = nuts.compiled_nuts(spec, num_warmup=opts.warmup, num_samples=opts.draws, num_chains=opts.chains)
    init = {k: jax.numpy.asarray(v) for k, v in opts.truth.items()} if opts.init == "truth" else None

    def call(x: np.ndarray, y: np.ndarray, seed: int) -> Run:
        args = (jax.random.PRNGKey(seed), jax.numpy.asarray(x), jax.numpy.asarray(y))
        draws, diverging = jax.block_until_ready(run(*args) if init is None else run(*args, init))
        return Run(_by_chain(draws), int(np.sum(diverging)), None)

    return call


def our_nuts_options() -> dict[str, Any]:
    """The NUTS kernel options of :func:`bayescmoe.inference.nuts.nuts_program` at its defaults."""
    import inspect

    from numpyro.infer import NUTS

    from bayescmoe.inference.nuts import nuts_program

    kernel = inspect.signature(NUTS).parameters
    return {k: p.default for k, p in inspect.signature(nuts_program).parameters.items() if k in kernel}


def options_against_numpyro() -> dict[str, tuple[Any, Any]]:
    """Our NUTS options that differ from NumPyro's defaults: name -> (ours, NumPyro's)."""
    import inspect

    from numpyro.infer import NUTS

    kernel = inspect.signature(NUTS).parameters
    return {k: (v, kernel[k].default) for k, v in our_nuts_options().items() if v != kernel[k].default}


def prepare_numpyro(
    desc: Description, spec: Any, x: np.ndarray, y: np.ndarray, opts: Options, *, same_mass: bool = False
) -> Call:
    """``MCMC(NUTS(model))`` on the hand-written model; ``same_mass``: with :func:`our_nuts_options`."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.util import init_to_value

    model = numpyro_model(desc)
    options = our_nuts_options() if same_mass else {}
    if opts.init == "truth":
        options["init_strategy"] = init_to_value(values=to_sites(desc, opts.truth))
    kernel = NUTS(model, **options)
    mcmc = MCMC(
        kernel,
        num_warmup=opts.warmup,
        num_samples=opts.draws,
        num_chains=opts.chains,
        chain_method="parallel" if jax.local_device_count() >= opts.chains else "sequential",
        progress_bar=False,
        jit_model_args=True,
    )

    def call(x: np.ndarray, y: np.ndarray, seed: int) -> Run:
        mcmc.run(jax.random.PRNGKey(seed), jnp.asarray(x), jnp.asarray(y), extra_fields=("num_steps", "diverging"))
        samples, extra = jax.block_until_ready((mcmc.get_samples(True), mcmc.get_extra_fields(True)))
        draws = _by_chain({name: samples[name] for name in desc.names})  # lam, not w, for K >= 2 prompts
        return Run(draws, int(np.sum(extra["diverging"])), float(np.mean(extra["num_steps"])))

    return call


def _pymc_run(dt: Any, names: Sequence[str]) -> Run:
    post, stats = dt["posterior"], dt["sample_stats"]
    draws = {name: np.asarray(post[name].values, dtype=float) for name in names}
    steps = float(np.mean(stats["n_steps"].values)) if "n_steps" in stats else None
    return Run(draws, int(np.sum(stats["diverging"].values)), steps)


def prepare_nutpie(desc: Description, spec: Any, x: np.ndarray, y: np.ndarray, opts: Options) -> Call:
    import nutpie

    model = pymc_model(desc, x, y)
    if opts.init == "truth":
        truth = to_sites(desc, {name: opts.truth[name] for name in desc.names})
        compiled = nutpie.compile_pymc_model(model, backend="numba", initial_points=truth, jitter_rvs=set())
    else:
        compiled = nutpie.compile_pymc_model(model, backend="numba")

    def call(x: np.ndarray, y: np.ndarray, seed: int) -> Run:
        fresh = compiled.with_data(x=x, y=y)
        dt = nutpie.sample(
            fresh,
            chains=opts.chains,
            tune=opts.warmup,
            draws=opts.draws,
            cores=opts.cores,
            seed=seed,
            progress_bar=False,
        )
        return _pymc_run(dt, desc.names)

    return call


def prepare_pymc(desc: Description, spec: Any, x: np.ndarray, y: np.ndarray, opts: Options) -> Call:
    import pymc as pm

    model = pymc_model(desc, x, y)
    extra: dict[str, Any] = {}
    if opts.init == "truth":
        extra = {"initvals": to_sites(desc, {name: opts.truth[name] for name in desc.names}), "init": "adapt_diag"}

    def call(x: np.ndarray, y: np.ndarray, seed: int) -> Run:
        with model:
            pm.set_data({"x": x, "y": y})
            dt = pm.sample(
                draws=opts.draws,
                tune=opts.warmup,
                chains=opts.chains,
                cores=opts.cores,
                random_seed=seed,
                nuts_sampler="pymc",
                progressbar=False,
                compute_convergence_checks=False,
                **extra,
            )
        return _pymc_run(dt, desc.names)

    return call


CONTESTANTS: dict[str, Callable[[Description, Any, np.ndarray, np.ndarray, Options], Call]] = {
    "fit_nuts": prepare_fit_nuts,
    "fit_nuts-regularised": partial(prepare_fit_nuts, regularised=True),
    "compiled_nuts": prepare_compiled_nuts,
    "numpyro": prepare_numpyro,
    "numpyro-same-mass": partial(prepare_numpyro, same_mass=True),
    "nutpie": prepare_nutpie,
    "pymc": prepare_pymc,
}


def available(name: str) -> str | None:
    """Why contestant ``name`` cannot run here (None if it can): bayescmoe's API may have changed."""
    if name == "compiled_nuts":
        import bayescmoe.inference.nuts as nuts

        if not hasattr(nuts, "compiled_nuts"):
            return "bayescmoe.inference.nuts.compiled_nuts does not exist"
    if name == "fit_nuts":
        import bayescmoe

        if not hasattr(bayescmoe, "fit_nuts"):
            return "bayescmoe.fit_nuts does not exist"
    return None


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def min_ess(draws: Draws) -> dict[str, tuple[float, str]]:
    """Per method of :data:`ESS_METHODS`: the smallest ESS over every scalar parameter (one ArviZ call) and where."""
    import arviz as az

    tree = az.from_dict({"posterior": draws})
    out = {}
    for method in ESS_METHODS:
        best, where = math.inf, ""
        for name, values in az.ess(tree, method=method).to_dataset().data_vars.items():
            flat = np.atleast_1d(values.values).ravel()
            i = int(np.nanargmin(flat))
            if flat[i] < best:
                index = ", ".join(str(int(j)) for j in np.unravel_index(i, np.shape(values.values)))
                best, where = float(flat[i]), name if flat.size == 1 else f"{name}[{index}]"
        out[method] = (best, where)
    return out


def labellings(draws: Draws, truth: Mapping[str, np.ndarray], num_prompts: int) -> dict[str, Any] | None:
    """K >= 2 prompts: which labelling of the truth's prompts each chain sits in (None for K = 1).

    Each draw is given the permutation pi of the prompts nearest the truth (squared distance of its
    prompts' (a, b) to the truth's prompts pi(1), ..., pi(K)), each chain its most frequent one.
    ``labels``: per chain, pi as digits ("01": the truth's order); ``split_chains``: chains outside the
    most common labelling (> 0: the chains sample different modes of the label-switching symmetry,
    and ESS across chains measures that, not the sampler's efficiency within a mode);
    ``switched_draws``: the fraction of draws outside their chain's labelling (switches within a chain).
    """
    if num_prompts < 2:
        return None
    keys = [k for k in ("a", "b") if k in draws]
    feats = np.concatenate([draws[k].reshape(*draws[k].shape[:3], -1) for k in keys], axis=-1)  # (chain, draw, K, m)
    target = np.concatenate([np.reshape(truth[k], (num_prompts, -1)) for k in keys], axis=-1)
    perms = list(itertools.permutations(range(num_prompts)))
    cost = np.stack([np.sum((feats - target[list(perm)]) ** 2, axis=(-1, -2)) for perm in perms], axis=-1)
    nearest = np.argmin(cost, axis=-1)  # (chain, draw)
    by_chain = [int(np.bincount(chain, minlength=len(perms)).argmax()) for chain in nearest]
    modal = max(set(by_chain), key=by_chain.count)
    return {
        "labels": ["".join(map(str, perms[i])) for i in by_chain],
        "split_chains": sum(i != modal for i in by_chain),
        "switched_draws": float(np.mean(nearest != np.asarray(by_chain)[:, None])),
    }


# ---------------------------------------------------------------------------------------------
# Workers (subprocesses): a timed contestant, or the log-density agreement check
# ---------------------------------------------------------------------------------------------


#: what ``--init auto`` means, in the table's header
AUTO_INIT = " (the truth with several prompts, each sampler's own start otherwise)"


def init_for(init: str, config: Mapping[str, Any]) -> str:
    """The start of a setting's chains: ``--init`` as given, or for ``auto`` the truth where the setting has several
    prompts (from default starts its chains settle in either labelling: an ESS of the label modes, not of the
    sampler) and each sampler's default start otherwise."""
    if init != "auto":
        return init
    return "truth" if isinstance(config["prompt"], list) else "default"


def load_data(path: Path, setting: str) -> dict[str, Any]:
    with np.load(path / f"{setting}.npz") as f:
        data = {k: f[k] for k in f.files}
    meta = json.loads((path / f"{setting}.json").read_text())
    data["truth"] = {k: np.asarray(v, dtype=float) for k, v in meta["truth"].items()}
    data["config"] = meta["config"]
    return data


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        return "; ".join(
            f"{i.get('internal_api')} {i.get('architecture')} x{i.get('num_threads')}" for i in threadpool_info()
        )
    except Exception as err:  # threadpoolctl is optional
        return f"unknown ({err})"


def timed_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Import, first call on dataset 1 (building and compiling included), repeated call on dataset 2."""
    start = time.perf_counter()
    spec = None
    if SIDES[args.contestant] == "jax":
        import bayescmoe

        bayescmoe.configure()  # the chains' virtual devices (BAYESCMOE_CPU_DEVICES) and the compilation cache
        spec = bayescmoe.get_setting(args.setting).spec
    else:
        import nutpie  # noqa: F401
        import pymc  # noqa: F401
    imported = time.perf_counter() - start
    data = load_data(Path(args.data), args.setting)
    desc = describe(data["config"])
    opts = Options(args.warmup, args.draws, args.chains, args.cores, init_for(args.init, data["config"]), data["truth"])
    record: dict[str, Any] = {"import_s": imported, "blas": blas_info()}
    t0 = time.perf_counter()
    call = CONTESTANTS[args.contestant](desc, spec, data["x1"], data["y1"], opts)
    calls = (
        ("first", data["x1"], data["y1"], args.sampler_seed),
        ("repeated", data["x2"], data["y2"], args.sampler_seed + 1),
    )
    for which, x, y, seed in calls:
        run = call(x, y, seed)
        wall = time.perf_counter() - t0
        record[which] = {
            "wall_s": wall,
            "divergences": run.divergences,
            "steps_per_draw": run.steps_per_draw,
            "shape": {k: list(v.shape) for k, v in run.draws.items()},
        }
        for method, (ess, where) in min_ess(run.draws).items():
            record[which] |= {f"min_ess_{method}": ess, f"min_ess_{method}_param": where, f"{method}_per_s": ess / wall}
        record[which]["labelling"] = labellings(run.draws, data["truth"], desc.num_prompts)
        t0 = time.perf_counter()
    return record


def check_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Every contestant's log posterior against bayescmoe's at a few points (module docstring, step 2).

    Where a contestant unconstrains the weights of K >= 2 prompts by another map than ours
    (:func:`weights_maps`), its unconstrained density and gradient are evaluated at the image phi(v) of
    our point v and pulled back to v (:func:`reference.pull_back_weights`) before they are compared.
    """
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    import bayescmoe
    from bayescmoe.model.numpyro_model import model as bayescmoe_model
    from bayescmoe.model.params import bijection, constrain, log_posterior, unconstrain

    out: dict[str, Any] = {}
    for setting in args.settings:
        spec = bayescmoe.get_setting(setting).spec
        data = load_data(Path(args.data), setting)
        desc = describe(data["config"])
        x, y = jnp.asarray(data["x1"]), jnp.asarray(data["y1"])
        u_truth = unconstrain(spec, data["truth"])
        rng = np.random.default_rng(args.seed)
        points = {"truth": data["truth"]}
        for label, scale in (("truth+0.1z", 0.1), ("truth+0.5z", 0.5)):
            u = {k: v + scale * rng.standard_normal(np.shape(v)) for k, v in u_truth.items()}
            points[label] = {k: np.asarray(v) for k, v in constrain(spec, u).items()}
        u = {k: rng.uniform(-2.0, 2.0, np.shape(v)) for k, v in u_truth.items()}
        points["uniform(-2,2)"] = {k: np.asarray(v) for k, v in constrain(spec, u).items()}

        ref_model = partial(bayescmoe_model, spec)
        hand_model = numpyro_model(desc)
        maps = weights_maps(desc)
        phis = {side: weights_change(bijection(spec, "lam"), to_theirs) for side, to_theirs in maps.items()}

        pm_fn = pymc_check(desc, data) if any(SIDES[c] == "pymc" for c in args.contestants) else None
        rows = []
        for label, natural in points.items():
            theta = {k: jnp.asarray(v) for k, v in natural.items()}
            u = {k: jnp.asarray(v) for k, v in unconstrain(spec, natural).items()}
            ref_nat = float(log_posterior(spec, theta, x, y))
            ref_unc, ref_grad = unconstrained_density(ref_model, u, x, y, desc.names)
            hand_nat = float(log_density(hand_model, (x, y), {}, to_sites(desc, theta))[0])
            hand_unc, hand_grad = unconstrained_density(
                hand_model, their_point(desc, u, phis.get("numpyro")), x, y, desc.sites
            )
            if "numpyro" in phis:
                hand_unc, hand_grad = pull_back_weights(desc, phis["numpyro"], u["lam"], hand_unc, hand_grad)
            row = {
                "point": label,
                "log_posterior": ref_nat,
                "unconstrained": ref_unc,
                "numpyro_natural": rel(hand_nat, ref_nat),
                "numpyro_unconstrained": rel(hand_unc, ref_unc),
                "numpyro_grad": grel(hand_grad, ref_grad),
            }
            if pm_fn is not None:
                pm_nat, pm_unc, pm_grad = pm_fn(their_point(desc, u, phis.get("pymc")))
                if "pymc" in phis:
                    pm_unc, pm_grad = pull_back_weights(desc, phis["pymc"], u["lam"], pm_unc, pm_grad)
                row |= {
                    "pymc_natural": rel(pm_nat, ref_nat),
                    "pymc_unconstrained": rel(pm_unc, ref_unc),
                    "pymc_grad": grel(pm_grad, ref_grad),
                }
            rows.append(row)
        out[setting] = rows
    return out


#: how each side unconstrains the K + 1 weights w = (w0, lam) of K >= 2 prompts, and ours lam
WEIGHTS_MAPS = {
    "bayescmoe": "NumPyro's stick-breaking of (lam_1, ..., lam_K, w0) (SubSimplexTransform)",
    "numpyro": "NumPyro's stick-breaking of (w0, lam_1, ..., lam_K) (dist.Dirichlet's support)",
    "pymc": "PyMC's simplex transform of (w0, lam_1, ..., lam_K): log w[:-1] - mean(log w)",
}


def weights_maps(desc: Description) -> dict[str, Callable[[Any], Any]]:
    """Per side whose unconstrained weights differ from ours (K >= 2 prompts, constant gate): the inverse of its
    simplex map, w = (w0, lam) -> its unconstrained K-vector, in JAX (:data:`WEIGHTS_MAPS`); {} otherwise."""
    if "w" not in desc.sites:
        return {}
    import jax.numpy as jnp
    from numpyro.distributions import constraints
    from numpyro.distributions.transforms import biject_to

    def pymc_simplex(w: Any) -> Any:  # pymc.logprob.transforms.SimplexTransform.forward; pymc_check checks it
        log_w = jnp.log(w)
        return log_w[:-1] - jnp.mean(log_w)

    return {"numpyro": biject_to(constraints.simplex).inv, "pymc": pymc_simplex}


def their_point(desc: Description, u: Mapping[str, Any], phi: Callable[[Any], Any] | None) -> dict[str, Any]:
    """Our unconstrained point u as a side's unconstrained sites: w = phi(u_lam) in place of lam (if phi)."""
    if phi is None:
        return dict(u)
    return {("w" if name == "lam" else name): (phi(u[name]) if name == "lam" else u[name]) for name in desc.names}


def rel(a: float, b: float) -> float:
    """Relative error of a against b (absolute below 1)."""
    return abs(a - b) / max(1.0, abs(b))


def grel(a: np.ndarray, b: np.ndarray) -> float:
    """Max-norm relative error of gradient a against b."""
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def pymc_check(desc: Description, data: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], tuple]:
    """PyMC's log posterior (natural, unconstrained) and unconstrained gradient at an unconstrained point of its
    sites (:attr:`Description.sites`; the gradient in that order)."""
    import pytensor
    import pytensor.tensor as pt

    pm_model = pymc_model(desc, data["x1"], data["y1"])
    transforms = {"unit": "LogOddsTransform", "positive": "LogTransform", "real": "NoneType"}
    transforms["weights"] = "SimplexTransform"
    for name in desc.sites:  # the samplers' unconstrained scales must be the maps the check assumes
        kind = type(pm_model.rvs_to_transforms[pm_model[name]]).__name__
        if kind != transforms["weights" if name == "w" else desc.support(name)]:
            raise SystemExit(f"PyMC transforms {name} by {kind}, not as the check assumes")
    value_names = [pm_model.rvs_to_values[pm_model[name]].name for name in desc.sites]
    value_vars = [pm_model.rvs_to_values[pm_model[name]] for name in desc.sites]
    jac = pm_model.logp(jacobian=True)
    pm_fn = pm_model.compile_fn(
        [pm_model.logp(jacobian=False), jac, *pytensor.gradient.grad(jac, value_vars)],
        point_fn=True,
        mode="NUMBA",
    )
    if "w" in desc.sites:  # weights_maps writes PyMC's simplex transform out in JAX: it must be PyMC's
        w = pt.vector("w")
        forward = pytensor.function([w], pm_model.rvs_to_transforms[pm_model["w"]].forward(w))
        ours = weights_maps(desc)["pymc"]
        for probe in (
            np.full(desc.num_prompts + 1, 1.0 / (desc.num_prompts + 1)),
            np.linspace(1.0, 3.0, desc.num_prompts + 1),
        ):
            probe = probe / probe.sum()
            if np.max(np.abs(forward(probe) - np.asarray(ours(probe)))) > 1e-12:
                raise SystemExit("PyMC's simplex transform is not the map weights_maps writes out")

    def evaluate(u: Mapping[str, Any]) -> tuple[float, float, np.ndarray]:
        point = {vname: np.asarray(u[name], dtype=float) for vname, name in zip(value_names, desc.sites, strict=True)}
        nat, unc, *grads = pm_fn(point)
        return float(nat), float(unc), np.concatenate([np.ravel(g) for g in grads])

    return evaluate


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def worker_env(caches: Path, args: argparse.Namespace) -> dict[str, str]:
    """The environment of every worker (module docstring, steps 4 and 5)."""
    env = dict(os.environ)
    if not args.keep_openblas_env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    env["BAYESCMOE_CPU_DEVICES"] = str(args.chains)
    for sub in ("jax", "pytensor", "numba"):
        (caches / sub).mkdir(parents=True, exist_ok=True)
    env["BAYESCMOE_COMPILATION_CACHE"] = str(caches / "jax")
    env["PYTENSOR_FLAGS"] = ",".join(
        f for f in (env.get("PYTENSOR_FLAGS", ""), f"compiledir={caches / 'pytensor'}") if f
    )
    env["NUMBA_CACHE_DIR"] = str(caches / "numba")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def spawn(worker_args: Sequence[str], env: Mapping[str, str], result: Path, log: Path) -> dict[str, Any]:
    """Run this script as a worker; its JSON record, or {"error": ...} with the tail of its log."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *worker_args, "--result", str(result)]
    with open(log, "w") as f:
        proc = subprocess.run(command, env=dict(env), stdout=f, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0 or not result.exists():
        tail = log.read_text().strip().splitlines()[-15:]
        return {"error": f"exit {proc.returncode}", "log_tail": tail}
    return json.loads(result.read_text())


def simulate_data(settings: Sequence[str], n: int, seed: int, folder: Path) -> None:
    """Two datasets of the same shape per setting (keys seed and seed + 1), with truth and spec config."""
    os.environ.setdefault("BAYESCMOE_COMPILATION_CACHE", "off")
    import jax

    import bayescmoe

    for name in settings:
        setting = bayescmoe.get_setting(name)
        truth = setting.truth.at(setting.spec, n)
        arrays = {}
        for i in (1, 2):
            x, y = bayescmoe.simulate(jax.random.PRNGKey(seed + i - 1), setting.spec, truth, n, setting.x_dist)
            arrays[f"x{i}"], arrays[f"y{i}"] = np.asarray(x), np.asarray(y)
        np.savez(folder / f"{name}.npz", **arrays)
        meta = {"truth": {k: np.asarray(v).tolist() for k, v in truth.items()}, "config": setting.spec.to_config()}
        (folder / f"{name}.json").write_text(json.dumps(meta))


def median(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(kept) if kept else None


def summarise(records: Sequence[dict[str, Any]], settings: Sequence[str], contestants: Sequence[str]) -> dict:
    """Medians (and ranges) over repetitions of every (setting, call, contestant).

    ``ratio_<method>``: ours over the row's ESS-<method>/s, taken within each repetition (both
    measured side by side), then the median and range over the repetitions; ``split_reps``: the
    repetitions in which ours or the row split its chains over labellings of K >= 2 prompts
    (:func:`split`), whose ratios compare no sampler's efficiency.
    """
    ours = next((name for name in OURS if name in contestants), None)
    by_key = {(r["rep"], r["setting"], r["contestant"]): r for r in records}
    out: dict[str, Any] = {"ours": ours}
    for setting in settings:
        for which in ("first", "repeated"):
            rows = {}
            for name in contestants:
                mine = [r for r in records if r["setting"] == setting and r["contestant"] == name and which in r]
                runs = [r[which] for r in mine]
                if not runs:
                    continue
                row = {
                    "reps": len(runs),
                    "wall_s": median([r["wall_s"] for r in runs]),
                    "steps_per_draw": median([r["steps_per_draw"] for r in runs]),
                    "divergences": median([r["divergences"] for r in runs]),
                    "labelling": [r.get("labelling") for r in runs],  # per repetition; None for K = 1
                }
                for method in ESS_METHODS:
                    speeds = [r[f"{method}_per_s"] for r in runs]
                    pairs = [(by_key.get((r["rep"], setting, ours), {}).get(which), r[which]) for r in mine]
                    ratios = [o[f"{method}_per_s"] / t[f"{method}_per_s"] for o, t in pairs if o]
                    row["split_reps"] = sum(bool(o) and (split(o) or split(t)) for o, t in pairs)
                    row |= {
                        f"min_ess_{method}": median([r[f"min_ess_{method}"] for r in runs]),
                        f"min_ess_{method}_params": sorted({r[f"min_ess_{method}_param"] for r in runs}),
                        f"{method}_per_s": median(speeds),
                        f"{method}_per_s_range": [min(speeds), max(speeds)],
                        f"ratio_{method}": median(ratios),
                        f"ratio_{method}_range": [min(ratios), max(ratios)] if ratios else None,
                    }
                rows[name] = row
            out[f"{setting}/{which}"] = rows
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def split(run: Mapping[str, Any]) -> bool:
    """Whether a call's chains split over labellings of K >= 2 prompts or switch within a chain (> 1% of draws)."""
    lab = run.get("labelling")
    return bool(lab) and (lab["split_chains"] > 0 or lab["switched_draws"] > 0.01)


def split_cell(labelling: Sequence[dict[str, Any] | None]) -> str:
    """The speed table's label-switching cell: split chains per repetition ("0/2/0"), "–" for K = 1."""
    kept = [lab for lab in labelling if lab]
    return "/".join(str(lab["split_chains"]) for lab in kept) if kept else "–"


def labelling_notes(summary: Mapping[str, Any]) -> list[str]:
    """One line per row of K >= 2 prompts whose chains split over labellings or switch within a chain: each
    repetition's labelling of each chain, and the draws outside their chain's labelling."""
    notes = []
    for key, rows in summary.items():
        if key == "ours":
            continue
        for name, row in rows.items():
            labs = [lab for lab in row["labelling"] if lab]
            if any(split({"labelling": lab}) for lab in labs):
                chains = " | ".join(" ".join(lab["labels"]) for lab in labs)
                switched = "/".join(f"{100 * lab['switched_draws']:.1f}%" for lab in labs)
                notes.append(f"- {key} {name}: chains' labellings {chains}; draws outside their chain's: {switched}")
    return notes


def tables(summary: Mapping[str, Any], agreement: Mapping[str, Any], header: str, notes: Sequence[str] = ()) -> str:
    """The markdown: one speed table (ratios against ours, with their ranges) and the log-density agreement;
    ``notes`` go under the agreement table."""

    def spread(value: float | None, bounds: Sequence[float] | None, digits: int) -> str:
        if value is None or bounds is None:
            return "n/a"
        low, high = (fmt(v, digits) for v in bounds)
        return fmt(value, digits) + ("" if low == high else f" ({low}–{high})")

    ours = summary["ours"]
    cols = ["setting", "call", "contestant", "wall s", "steps/draw", "div.", "split chains"]
    for method in ESS_METHODS:
        cols += [f"min ESS-{method}", f"ESS-{method}/s", f"{ours} / this, ESS-{method}/s"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key, rows in summary.items():
        if key == "ours":
            continue
        setting, which = key.split("/")
        for name, row in rows.items():
            cells = [setting, which, name, fmt(row["wall_s"]), fmt(row["steps_per_draw"]), fmt(row["divergences"], 0)]
            cells.append(split_cell(row["labelling"]))
            for method in ESS_METHODS:
                cells += [
                    fmt(row[f"min_ess_{method}"], 0),
                    spread(row[f"{method}_per_s"], row[f"{method}_per_s_range"], 0),
                    spread(row[f"ratio_{method}"], row[f"ratio_{method}_range"], 2)
                    + (" †" if row["split_reps"] else ""),
                ]
            lines.append("| " + " | ".join(cells) + " |")
    notes_split = labelling_notes(summary)
    if any(
        split_cell(row["labelling"]) != "–" for key, rows in summary.items() if key != "ours" for row in rows.values()
    ):
        lines += [
            "",
            "split chains (K >= 2 prompts; per repetition): chains outside the most common labelling of the prompts "
            "(each draw labelled by the permutation of the truth's prompts nearest its (a, b)). No sampler here is "
            "told an ordering (each tool has its own), so chains may settle in different labellings; where split "
            "chains > 0, that row's ESS measures the split between modes, not the sampler within one, and its ESS/s "
            "and ratios are not comparable (†: a ratio over at least one repetition in which ours or the row split). "
            + (
                "Per repetition (separated by |), each chain's labelling (01: the truth's order):"
                if notes_split
                else "No chain split or switched labels in this run."
            ),
            *notes_split,
        ]
    lines += ["", "Log-density agreement with bayescmoe (relative error; gradient: max-norm, unconstrained scale):", ""]
    labels = {"natural": "nat.", "unconstrained": "unc.", "grad": "grad"}
    present = {k for rows in agreement.values() for r in rows for k in r}
    keys = [(side, end) for side in ("numpyro", "pymc") for end in labels if f"{side}_{end}" in present]
    cols = ["setting", "point", "log posterior", *(f"{side} {labels[end]}" for side, end in keys)]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for setting, rows in agreement.items():
        for r in rows:
            errs = [f"{r[f'{side}_{end}']:.1e}" for side, end in keys]
            lines.append(f"| {setting} | {r['point']} | {r['log_posterior']:.6g} | " + " | ".join(errs) + " |")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def agreement_notes(settings: Sequence[str], data: Path) -> list[str]:
    """How the agreement table compares the unconstrained scale of settings with K >= 2 prompts' weights."""
    named = [s for s in settings if "w" in describe(json.loads((data / f"{s}.json").read_text())["config"]).sites]
    if not named:
        return []
    return [
        f"K >= 2 prompts ({', '.join(named)}): the weights' unconstrained scales differ: bayescmoe: "
        f"{WEIGHTS_MAPS['bayescmoe']}; hand-written NumPyro: {WEIGHTS_MAPS['numpyro']}; PyMC: "
        f"{WEIGHTS_MAPS['pymc']}. The natural-scale columns compare the same posterior directly; the unc. and grad "
        "columns compare ours at v with the contestant's at phi(v), the same weights on its scale, pulled back by "
        "the change of variables: value + log|det Dphi(v)|, gradient Dphi(v)^T g + grad log|det Dphi(v)| "
        "(Dphi by autodiff, not by either tool's Jacobian)."
    ]


def drive(args: argparse.Namespace) -> None:
    unknown = sorted(set(args.contestants) - set(CONTESTANTS))
    if unknown:
        raise SystemExit(f"unknown contestant(s) {unknown}; choose from {sorted(CONTESTANTS)}")
    contestants, skipped = [], {}
    for name in args.contestants:
        why = available(name)
        if why:
            skipped[name] = why
        else:
            contestants.append(name)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bayescmoe-peers-"))
    try:
        data = scratch / "data"
        data.mkdir()
        simulate_data(args.settings, args.n, args.seed, data)
        common = [
            "--data",
            str(data),
            "--warmup",
            str(args.warmup),
            "--draws",
            str(args.draws),
            "--chains",
            str(args.chains),
            "--cores",
            str(args.cores),
            "--init",
            args.init,
        ]

        print("checking log densities ...", flush=True)
        check = spawn(
            ["--check", "--settings", *args.settings, "--contestants", *contestants, "--seed", str(args.seed), *common],
            worker_env(scratch / "check-cache", args),
            scratch / "check.json",
            scratch / "check.log",
        )
        if "error" in check:
            raise SystemExit("the log-density check failed to run:\n" + "\n".join(check["log_tail"]))
        worst = 0.0
        for rows in check.values():
            for r in rows:
                grads = max(v for k, v in r.items() if k.endswith("_grad"))
                values = max(v for k, v in r.items() if k.endswith(("_natural", "_unconstrained")))
                worst = max(worst, values)
                if values > args.tolerance or grads > GRAD_TOLERANCE:
                    print(json.dumps(check, indent=1))
                    raise SystemExit(
                        f"log densities disagree at {r['point']} (value {values:.2e}, gradient {grads:.2e})"
                    )
        print(f"log densities agree (worst relative error {worst:.1e})", flush=True)

        records: list[dict[str, Any]] = []
        shared = scratch / "warm-cache"
        reps = range(-1 if args.cache == "warm" else 0, args.reps)
        for rep in reps:
            for s, setting in enumerate(args.settings):
                k = (rep + s) % len(contestants)
                for name in contestants[k:] + contestants[:k]:
                    tag = f"r{rep}-{setting}-{name}"
                    caches = shared if args.cache == "warm" else scratch / f"cache-{tag}"
                    worker_args = [
                        "--contestant",
                        name,
                        "--setting",
                        setting,
                        "--sampler-seed",
                        str(args.seed + 100 * max(rep, 0)),
                        *common,
                    ]
                    t = time.perf_counter()
                    rec = spawn(worker_args, worker_env(caches, args), scratch / f"{tag}.json", scratch / f"{tag}.log")
                    rec.update(rep=rep, setting=setting, contestant=name, process_s=time.perf_counter() - t)
                    if args.cache == "cold":
                        shutil.rmtree(caches, ignore_errors=True)
                    if "error" in rec:
                        print(f"[rep {rep}] {setting} {name}: FAILED {rec['error']}\n  " + "\n  ".join(rec["log_tail"]))
                    else:
                        calls = "; ".join(
                            f"{which} {rec[which]['wall_s']:.1f} s"
                            + "".join(
                                f", ESS-{m} {rec[which][f'min_ess_{m}']:.0f} ({rec[which][f'{m}_per_s']:.1f}/s)"
                                for m in ESS_METHODS
                            )
                            for which in ("first", "repeated")
                        )
                        priming = " (priming, untimed)" if rep < 0 else ""
                        print(f"[rep {rep}{priming}] {setting} {name}: {calls}", flush=True)
                    if rep >= 0:
                        records.append(rec)
        summary = summarise([r for r in records if "error" not in r], args.settings, contestants)
        header = (
            f"n = {args.n}, {args.chains} chains x ({args.warmup} warmup + {args.draws} draws), float64, "
            f"medians of {args.reps} interleaved repetitions, {args.cache} compilation caches for the first call, "
            f"init {args.init!r}{AUTO_INIT if args.init == 'auto' else ''}, "
            f"{os.cpu_count()} cores (nutpie/PyMC cores = {args.cores}); "
            "our NUTS options that differ from NumPyro's defaults (numpyro-same-mass uses ours): "
            + ", ".join(f"{k}={ours} (NumPyro: {theirs})" for k, (ours, theirs) in options_against_numpyro().items())
        )
        text = tables(summary, check, header, agreement_notes(args.settings, data))
        print("\n" + text)
        (out / "peers.md").write_text(text + "\n")
        meta = {k: v for k, v in vars(args).items() if k not in ("worker", "check")}
        payload = {"args": meta, "skipped": skipped, "agreement": check, "summary": summary, "records": records}
        (out / "peers.json").write_text(json.dumps(payload, indent=1, default=str))
        print(f"\nwrote {out / 'peers.md'} and {out / 'peers.json'}")
    finally:
        if args.keep_scratch:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help="settings (default: %(default)s)")
    parser.add_argument(
        "--contestants",
        nargs="+",
        default=list(DEFAULT_CONTESTANTS),
        help=f"from {sorted(CONTESTANTS)} (default: %(default)s)",
    )
    parser.add_argument("--n", type=int, default=2000, help="observations per dataset (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default: %(default)s)")
    parser.add_argument("--chains", type=int, default=4, help="chains (default: %(default)s)")
    parser.add_argument(
        "--cores",
        type=int,
        default=os.cpu_count() or 1,
        help="nutpie's and PyMC's parallel chains (default: the cores, %(default)s)",
    )
    parser.add_argument(
        "--init",
        choices=("auto", "default", "truth"),
        default="auto",
        help="each sampler's default start, all chains at the truth, or auto: the truth for settings with several "
        "prompts (label switching) and the default start otherwise (default: %(default)s)",
    )
    parser.add_argument(
        "--cache",
        choices=("cold", "warm"),
        default="cold",
        help="compilation caches for the first call (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="data keys seed and seed + 1 (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=1e-8, help="log-density relative tolerance")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the harness end to end")
    parser.add_argument("--keep-openblas-env", action="store_true", help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the scratch folder (data, worker logs)")
    parser.add_argument("--out", default=str(ROOT / "results" / "peers"), help="output folder (default: %(default)s)")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contestant", help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--sampler-seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick and not args.worker:
        args.n, args.warmup, args.draws, args.reps = 300, 150, 150, 1
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.worker:
        drive(args)
        return
    try:
        record = check_worker(args) if args.check else timed_worker(args)
    except Exception:
        traceback.print_exc()
        raise SystemExit(1) from None
    Path(args.result).write_text(json.dumps(record, default=str))


if __name__ == "__main__":
    main()
