"""A fit never looks surer than it is: Stan's and ArviZ's sampler warnings, undefined standard errors, one line each."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import make_params, make_spec, seed

from bayescmoe.cli.args import guarded
from bayescmoe.diagnostics.signals import sampler_warnings
from bayescmoe.errors import FitWarning
from bayescmoe.inference.nuts import NutsFit
from bayescmoe.results.datatree import to_datatree
from bayescmoe.results.tables import describe
from bayescmoe.workflow.fitting import fit_warnings

SPEC = make_spec("student_t")
CHAINS, DRAWS = 4, 1000


def synthetic(rng, shift: float = 0.0, rho: float = 0.0, divergent: int = 0, energy_walk: bool = False):
    """A result from made-up draws: iid around the truth unless a chain is shifted, the draws are AR(1) with
    coefficient ``rho``, some transitions diverged or the energy wanders (a random walk: E-BFMI near 0)."""
    truth = make_params(SPEC)
    noise = rng.standard_normal((CHAINS, DRAWS))
    for t in range(1, DRAWS):
        noise[:, t] = rho * noise[:, t - 1] + np.sqrt(1 - rho**2) * noise[:, t]
    samples = {}
    for name, value in truth.items():
        shape = (CHAINS, DRAWS, *np.shape(value))
        draws = np.asarray(value) + 0.01 * rng.standard_normal(shape)
        if name == "b":
            draws = value + 0.01 * noise + shift * (np.arange(CHAINS) == 0)[:, None]
        samples[name] = np.abs(draws) if name in ("nu", "lam") else draws
    energy = (
        np.cumsum(rng.standard_normal((CHAINS, DRAWS)), axis=1) if energy_walk else rng.standard_normal((CHAINS, DRAWS))
    )
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[1, :divergent] = True
    stats = {
        "energy": energy,
        "diverging": diverging,
        "num_steps": np.full((CHAINS, DRAWS), 7),
        "accept_prob": np.full((CHAINS, DRAWS), 0.8),
        "potential_energy": energy,
    }
    x = rng.standard_normal((50, SPEC.dim))
    return to_datatree(
        SPEC, x, rng.standard_normal(50), nuts=NutsFit(samples, stats, 10), log_likelihood=False, predictive=False
    )


def test_healthy_draws_give_no_warning():
    assert sampler_warnings(synthetic(np.random.default_rng(seed(0)))) == []


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"shift": 0.5}, "R-hat"),
        ({"rho": 0.995}, "bulk ESS"),
        ({"divergent": 3}, "3 of 4000 transitions diverged"),
        ({"energy_walk": True}, "E-BFMI"),
    ],
)
def test_each_failed_check_is_one_line(kwargs, says):
    lines = sampler_warnings(synthetic(np.random.default_rng(seed(1)), **kwargs))
    assert any(says in line for line in lines), lines
    assert all("\n" not in line for line in lines)


@pytest.mark.slow
def test_undefined_standard_errors_are_said_not_printed(distinguishable_fit):
    f = distinguishable_fit
    nan_se = {k: np.full(np.shape(v), np.nan) for k, v in f.mle.se.items()}
    broken = f.mle._replace(information_pd=False, se=nan_se)
    dt = to_datatree(f.spec, f.x, f.y, estimates=[broken, f.map], log_likelihood=False, predictive=False)
    text = describe(dt)
    assert "information NOT positive definite: standard errors undefined" in text
    assert "(s.e. undefined)" in text and "+/- nan" not in text
    assert [line.split(":")[0] for line in fit_warnings(dt)] == ["MLE"]


def test_the_command_line_prints_a_warning_on_one_line(capsys):
    assert guarded(lambda: warnings.warn("NUTS: R-hat 1.8 > 1.01 (tau)", FitWarning, stacklevel=1)) == 0
    assert capsys.readouterr().err == "bayescmoe: warning: NUTS: R-hat 1.8 > 1.01 (tau)\n"


@pytest.mark.slow
def test_fit_warns_with_what_fit_warnings_finds(distinguishable_fit, monkeypatch):
    import bayescmoe.workflow.fitting as fitting

    monkeypatch.setattr(fitting, "fit_warnings", lambda dt: ["NUTS: something to say"])
    f = distinguishable_fit
    with pytest.warns(FitWarning, match="NUTS: something to say"):
        fitting.fit(f.spec, f.x[:200], f.y[:200], methods=("mle",), predictive=False)
