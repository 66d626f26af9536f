"""A pre-trained classifier on a shifted population (bayescmoe.studies.classify_shift, analyses/classify_shift.py)."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import seed
from sklearn.metrics import log_loss

from bayescmoe.diagnostics.collapse import VERDICTS
from bayescmoe.errors import FitWarning
from bayescmoe.studies.classify_shift import (
    BINS,
    METHODS,
    digits_shift,
    labelled_rows,
    logistic_probabilities,
    scores,
)

ROOT = Path(__file__).parents[1]


def test_scores_match_scikit_learn_and_the_definitions():
    rng = np.random.default_rng(seed(0))
    prob = rng.dirichlet(np.ones(4), size=200)
    y = rng.integers(0, 4, size=200)
    s = scores(prob, y)
    assert s["log_loss"] == pytest.approx(log_loss(y, prob, labels=range(4)), rel=1e-12)
    assert s["accuracy"] == pytest.approx(np.mean(prob.argmax(1) == y))
    assert sum(s[f"count_{k}"] for k in range(BINS)) == 200
    assert sum(s[f"correct_{k}"] for k in range(BINS)) == pytest.approx(200 * s["accuracy"])
    # every row at confidence 0.9 in one bin, 3 of 4 right: ECE = |0.75 - 0.9|
    sure = np.tile([0.9, 0.05, 0.05], (4, 1))
    s = scores(sure, np.array([0, 0, 0, 1]))
    assert s["ece"] == pytest.approx(0.15) and s["count_9"] == 4 and s["accuracy"] == 0.75
    # a probability 0 on the observed class costs -log CLIP, finite
    assert np.isfinite(scores(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([1, 0]))["log_loss"])


def test_a_refit_gives_an_absent_class_probability_zero():
    rng = np.random.default_rng(seed(1))
    x = rng.normal(size=(40, 2))
    y = np.where(x[:, 0] > 0, 2, 0)  # class 1 never seen
    prob = logistic_probabilities(x, y, rng.normal(size=(5, 2)), classes=3)
    assert prob.shape == (5, 3) and np.all(prob[:, 1] == 0)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)


def test_the_split_is_a_shift_that_hurts_the_frozen_classifier():
    """Source and target partition the 1797 digits; the held-out and labelled rows partition the target; p0's
    log loss is higher on the (heavier-ink) target than on its own source."""
    data = digits_shift(test_rows=300, seed=seed(0))
    assert len(data.y_source) + len(data.y_target) == 1797 and data.classes == 10
    assert sorted(np.concatenate([data.test, data.pool])) == list(range(len(data.y_target)))
    assert len(data.test) == 300
    np.testing.assert_allclose(data.h0.sum(axis=1), 1.0)
    np.testing.assert_allclose(data.x_source.std(axis=0), 1.0)
    assert log_loss(data.y_target, data.h0) > log_loss(data.y_source, data.h0_source) + 0.05
    rows = labelled_rows(data, 50, 1, seed(0))
    assert len(set(rows)) == 50 and set(rows) <= set(data.pool)
    np.testing.assert_array_equal(rows, labelled_rows(data, 50, 1, seed(0)))
    assert not np.array_equal(rows, labelled_rows(data, 50, 2, seed(0)))


@pytest.mark.slow
def test_the_quick_study_scores_every_method_and_the_adapter_helps_at_the_largest_n(tmp_path, capsys):
    """analyses/classify_shift.py --quick: finite metrics; p0's do not depend on n; the held-out gain that
    ``predict`` reports is the frozen minus the posterior predictive log loss of :func:`scores`; at the largest n the
    posterior predictive is no worse than p0 within 2 paired standard errors; every fit has a verdict; the figure."""
    script = runpy.run_path(str(ROOT / "analyses" / "classify_shift.py"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        assert script["main"](["--quick", "--seed", str(seed(0)), "--out", str(tmp_path), "--no-progress"]) == 0
    ds = xr.open_dataset(tmp_path / "classify-shift.nc").isel(setting=0, replicate=0)
    assert list(ds["method"].values) == list(METHODS) and bool(ds["done"].all())
    for metric in ("log_loss", "log_loss_se", "accuracy", "ece"):
        assert np.all(np.isfinite(ds[metric].values)), metric
    assert np.all((ds["accuracy"] >= 0) & (ds["accuracy"] <= 1) & (ds["ece"] >= 0) & (ds["ece"] <= 1))
    frozen = ds.sel({"method": "frozen"})
    for metric in ("log_loss", "accuracy", "ece"):
        assert np.ptp(frozen[metric].values) == 0, metric
    counts = sum(ds[f"count_{k}"] for k in range(BINS))
    assert np.all(counts == 300)
    nuts = ds.sel({"method": "nuts"})
    np.testing.assert_allclose(frozen["log_loss"] - nuts["log_loss"], ds["heldout_gain"], atol=1e-6)
    largest = ds.isel(n=-1)
    assert float(largest["log_loss"].sel({"method": "nuts"})) <= float(
        largest["log_loss"].sel({"method": "frozen"}) + 2 * largest["heldout_gain_se"]
    )
    verdicts = ds["verdict"].values
    assert np.all((verdicts >= 0) & (verdicts < len(VERDICTS)) & (verdicts == np.round(verdicts)))
    printed = capsys.readouterr().out
    assert "held out 300" in printed and "verdicts" in printed
    assert (tmp_path / "classify-shift.png").stat().st_size > 10_000
