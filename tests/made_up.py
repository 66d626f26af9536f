"""Made-up results: iid draws around the truth and an MLE and a MAP set apart from it, no sampler or
solver run, for tests of what reads a result (figures, the command line) that need no real fit."""

from __future__ import annotations

import numpy as np
import xarray as xr
from helpers import make_params, make_spec

from bayescmoe.inference.nuts import NutsFit
from bayescmoe.inference.optimize import PointEstimate
from bayescmoe.model.params import flat_labels
from bayescmoe.results.datatree import to_datatree

CHAINS, DRAWS, N = 2, 200, 40
#: where each made-up reference sits against the truth
OFFSETS = {"truth": 0.0, "mle": 0.01, "map": -0.01}


def estimate(spec, truth, kind: str) -> PointEstimate:
    """A converged-looking estimate at the truth plus :data:`OFFSETS` ``[kind]``, unit information."""
    labels = tuple(flat_labels(spec))
    params = {k: np.asarray(v) + OFFSETS[kind] for k, v in truth.items()}
    se = {k: np.full(np.shape(v), 0.1) for k, v in truth.items()}
    report = (-50.0, -5.0, 10, 1e-6, True, "made up", True, False, 0, np.ones(1))  # log-lik ... start objectives
    return PointEstimate(kind, params, se, np.eye(len(labels)), labels, *report)


def made_up(gate: str = "constant", d: int = 2, references: bool = True) -> xr.DataTree:
    """A result of iid draws around the truth of a ``d``-feature spec, with a truth, an MLE and a MAP."""
    spec = make_spec("student_t", gate=gate, weight=tuple(np.resize([1.0, -0.5], d)))
    truth = make_params(spec)
    rng = np.random.default_rng(0)
    samples = {}
    for name, value in truth.items():
        draws = value + 0.02 * rng.standard_normal((CHAINS, DRAWS, *np.shape(value)))
        samples[name] = np.abs(draws) if name in ("lam", "nu") else draws
    energy = rng.standard_normal((CHAINS, DRAWS))
    stats = {
        "energy": energy,
        "potential_energy": energy,
        "diverging": np.zeros((CHAINS, DRAWS), bool),
        "num_steps": np.full((CHAINS, DRAWS), 7),
        "accept_prob": np.full((CHAINS, DRAWS), 0.8),
    }
    x = rng.standard_normal((N, spec.dim))
    return to_datatree(
        spec,
        x,
        rng.standard_normal(N),
        nuts=NutsFit(samples, stats, 10),
        estimates=[estimate(spec, truth, "mle"), estimate(spec, truth, "map")] if references else (),
        truth=truth if references else None,
    )
