"""The slope fitter: exact power laws, noisy power laws, intervals, the table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import seed

from bayescmoe.studies.slopes import error_summary, fit_slope, format_slopes, loglog_fit

N = np.array([1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000])


@pytest.mark.parametrize("slope", [-0.5, -0.375, -0.25, -0.22])
def test_recovers_an_exact_power_law(slope):
    errors = np.tile((3.0 * N**slope)[:, None], (1, 5))
    fit = fit_slope(N, errors, n_boot=200)
    assert fit.slope == pytest.approx(slope, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(3.0), abs=1e-10)
    assert fit.lo == pytest.approx(slope, abs=1e-12) and fit.hi == pytest.approx(slope, abs=1e-12)


def test_noisy_power_law_interval_covers_the_truth():
    rng = np.random.default_rng(seed(0))
    errors = 2.0 * N[:, None] ** -0.375 * rng.lognormal(0.0, 0.5, size=(len(N), 40))
    fit = fit_slope(N, errors, n_boot=500)
    assert fit.lo < -0.375 < fit.hi
    assert 0.01 < fit.hi - fit.lo < 0.2
    assert fit.lo < fit.slope < fit.hi


def test_missing_replicates_are_skipped():
    errors = np.tile((N**-0.5)[:, None], (1, 4))
    errors[2, 1] = np.nan
    assert fit_slope(N, errors, n_boot=50).slope == pytest.approx(-0.5, abs=1e-12)


def test_error_summary_skips_missing_replicates_and_gives_an_infinite_error_no_spread():
    err = np.array([[[0.1, 0.3, np.nan], [np.inf, 0.2, 0.4]]])  # (setting, n, replicate)
    ds = xr.Dataset({"err_tau": (("setting", "n", "replicate"), err)}, coords={"setting": ["s"], "n": [100, 200]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = error_summary(ds, "s", "tau")
    np.testing.assert_allclose(summary["mean"], [0.2, np.inf])
    np.testing.assert_allclose(summary["sem"], [0.1 / np.sqrt(2), np.nan])


def test_loglog_fit_is_the_least_squares_line():
    y = np.exp(1.0) * N**-0.3 * np.array([1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98])
    slope, intercept = loglog_fit(N, y)
    design = np.column_stack([np.log(N), np.ones(len(N))])
    expected = np.linalg.lstsq(design, np.log(y), rcond=None)[0]
    np.testing.assert_allclose([slope, intercept], expected, rtol=1e-12)


def test_the_table_leaves_the_verdicts_blank_without_a_theory_or_a_slope():
    row = {"setting": "s", "paper": np.nan, "below_truth": 0.0, "fits": 80}
    table = pd.DataFrame(
        [
            {**row, "group": "known", "slope": -0.52, "lo": -0.6, "hi": -0.45, "theory": -0.5},
            {**row, "group": "open", "slope": -0.7, "lo": -0.8, "hi": -0.6, "theory": np.nan},
            {**row, "group": "none", "slope": np.nan, "lo": np.nan, "hi": np.nan, "theory": -0.5},
        ]
    )
    lines = format_slopes(table).splitlines()
    assert lines[2].endswith("| -0.500 | yes | no | 0 / 80 |")
    assert lines[3].endswith("| none |  | yes | 0 / 80 |")  # no theorem: no verdict; the interval excludes -1/2
    assert lines[4].endswith("| -0.500 | **no** |  | 0 / 80 |")  # no slope: no interval verdict
