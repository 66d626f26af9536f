"""An extra prompt in Bayes (bayescmoe.studies.overfitted, analyses/overfitted_prompt.py): outcomes, quick run."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import seed

from bayescmoe.diagnostics.collapse import VERDICTS
from bayescmoe.errors import BayescmoeError, FitWarning
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.overfitted import (
    AT_F0,
    EMPTY,
    OUTCOMES,
    concentrations,
    d_half,
    frozen_distance,
    outcome,
    run_overfitted,
    setting_name,
)

ROOT = Path(__file__).parents[1]


def test_outcomes_are_tested_in_their_order():
    assert outcome(EMPTY / 2, merged=True, frozen_distance=0.0) == "emptied"
    assert outcome(0.1, merged=True, frozen_distance=0.0) == "duplicated"
    assert outcome(0.1, merged=False, frozen_distance=AT_F0 / 2) == "merged with f0"
    assert outcome(0.1, merged=False, frozen_distance=AT_F0 * 2) == "split"
    assert set(OUTCOMES) == {"emptied", "duplicated", "merged with f0", "split"}


def test_prior_names_round_trip_and_bad_ones_are_refused(tmp_path):
    assert concentrations(setting_name(1.5)) == (1.5, 1.5)
    assert concentrations(setting_name(1.5, 8)) == (1.5, 8.0)
    assert d_half() == 2.0  # a, b, nu of a prompt on 2 features
    for bad in ("alpha=-1", "beta=2", "alpha=1,alpha0=0"):
        with pytest.raises(BayescmoeError, match="priors"):
            run_overfitted([bad], [100], 1, tmp_path / "x.nc", chains=Chains(10, 10, 1))
    assert not (tmp_path / "x.nc").exists()


def test_frozen_distance_is_the_worst_standardised_coordinate():
    rng = np.random.default_rng(seed(0))
    a = rng.normal([[1.0, -0.5], [3.0, 0.0]], 0.1, size=(2, 500, 2, 2))
    b = rng.normal([0.0, 2.0], 0.1, size=(2, 500, 2))
    nu = np.exp(rng.normal(np.log([0.25, 0.1]), 0.1, size=(2, 500, 2)))
    post = xr.Dataset(
        {"a": (("chain", "draw", "prompt", "feature"), a), "b": (("chain", "draw", "prompt"), b),
         "nu": (("chain", "draw", "prompt"), nu)}
    )  # fmt: skip
    frozen = {"a": np.array([1.0, -0.5]), "b": np.array(0.0), "nu": np.array(0.25)}
    assert frozen_distance(post, 0, frozen) < 0.5  # prompt 0 is f0, up to Monte Carlo error
    assert frozen_distance(post, 1, frozen) == pytest.approx(20.0, rel=0.1)  # a[1, 0] is 2 away, sd 0.1


@pytest.mark.slow
def test_the_quick_study_empties_below_and_keeps_above_d_half(tmp_path, capsys):
    """At alpha = 0.5 < d/2 = 2 the extra prompt's weight goes towards 0; at alpha = 4 the prior keeps it (n = 200),
    with f0's concentration 4 or 0.5; every fit carries a collapse verdict, and the figure is drawn."""
    script = runpy.run_path(str(ROOT / "analyses" / "overfitted_prompt.py"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        assert script["main"](["--quick", "--seed", str(seed(0)), "--out", str(tmp_path), "--no-progress"]) == 0
    ds = xr.open_dataset(tmp_path / "overfitted-prompt.nc")
    small = ds["small_median"].isel(n=0, replicate=0)
    # seeds 0-3, 5, 7, 31: 0.0013-0.005 against 0.14-0.2, at least 28 times smaller
    assert 10 * float(small.sel(setting="alpha=0.5")) < float(small.sel(setting="alpha=4"))
    assert float(small.sel(setting="alpha=4")) > 0.05
    assert float(small.sel(setting="alpha=4,alpha0=0.5")) > 0.05
    verdicts = ds["verdict"].values.ravel()
    assert np.all((verdicts >= 0) & (verdicts < len(VERDICTS)) & (verdicts == np.round(verdicts)))
    printed = capsys.readouterr().out
    assert "(3 fits;" in printed and "verdicts" in printed
    assert (tmp_path / "overfitted-prompt.png").stat().st_size > 10_000
