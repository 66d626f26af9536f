"""The contaminated MoE in NumPyro's own style: ``MCMC(NUTS(model))`` on bayescmoe's model function.

    p(y | x) = (1 - lam) t_5(y | x1, 0.1) + lam N(y | a.x + b, nu)      (the p1-family setting)

``bayescmoe.model.model(spec, inputs, y=None)`` is an ordinary NumPyro model: one ``numpyro.sample``
site per parameter, drawn from the spec's prior, and an observed site ``y`` whose distribution,
``ContaminatedMoE``, is the package's log-likelihood (and its simulator). So NumPyro's ``MCMC``,
``Predictive`` and ``log_likelihood`` and ArviZ's ``from_numpyro`` work on it unchanged. This script
simulates a setting, samples it with NumPyro's own MCMC, draws the posterior predictive and hands
the run to ArviZ. ``bayescmoe.fit`` runs the same kernel compiled once per data shape, adds the MLE
and the MAP, and returns one self-describing DataTree; ``bayescmoe.fit_nuts`` is the sampler alone.

    python examples/numpyro_mcmc.py --n 1000 --num-samples 500
"""

from __future__ import annotations

import argparse

import arviz as az
import jax
import numpy as np
import xarray as xr
from numpyro.infer import MCMC, NUTS, Predictive

import bayescmoe
from bayescmoe.model import model


def main(argv: list[str] | None = None) -> xr.DataTree:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", default="p1-family", help="a named setting (bayescmoe list)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--num-chains", type=int, default=4)
    args = parser.parse_args(argv)

    setting = bayescmoe.get_setting(args.setting)
    spec, truth = setting.spec, setting.truth.at(setting.spec, args.n)
    k_data, k_mcmc, k_pred = jax.random.split(jax.random.PRNGKey(args.seed), 3)
    x, y = bayescmoe.simulate(k_data, spec, truth, args.n)

    mcmc = MCMC(
        NUTS(model),
        num_warmup=args.num_warmup,
        num_samples=args.num_samples,
        num_chains=args.num_chains,
        progress_bar=False,
    )
    mcmc.run(k_mcmc, spec, x, y)  # the model's arguments: (spec, inputs, y)
    mcmc.print_summary()

    replicated = Predictive(model, mcmc.get_samples())(k_pred, spec, x)["y"]  # one data set per draw
    print(f"posterior predictive sd of y: {float(np.std(replicated)):.3f} (observed {float(np.std(y)):.3f})")

    dt = az.from_numpyro(
        mcmc,
        posterior_predictive={"y": replicated},
        constant_data={"x": np.asarray(x)},
        log_likelihood=True,
        dims={"x": ["obs", "feature"], "y": ["obs"], "a": ["feature"]},
    )
    print(az.summary(dt, var_names=list(spec.param_names)))
    print("truth:", {k: np.round(np.asarray(v), 3).tolist() for k, v in truth.items()})
    print(az.loo(dt))
    return dt


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices, so that the chains run in parallel
    main()
