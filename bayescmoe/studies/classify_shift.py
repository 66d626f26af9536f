"""A pre-trained classifier on a shifted population (docs/classification.md: *A worked example: a pre-trained
classifier on a shifted population*).

The digits of scikit-learn (1797 8 x 8 images, 10 classes; shipped with it, nothing is downloaded; scikit-learn
is in the ``examples`` and ``dev`` extras) are split by their total ink (the sum of the 64 pixel intensities):
the lighter half is the *source*, the heavier half the *target*, a covariate shift (thicker strokes) that also
shifts the class frequencies (a 1 holds less ink than a 0). The features are the first ``features`` principal
components of the source's pixels, scaled to unit variance on the source. The frozen classifier p0 is
scikit-learn's multinomial ``LogisticRegression`` fitted on the source; its ``predict_proba`` on the target is
``h0``. A fixed random part of the target (``test_rows``) is held out; each cell draws n labelled rows from the
rest and compares, on the held-out rows:

- ``frozen``: p0 alone;
- ``map`` and ``nuts``: p0 contaminated by a linear adapter through a gate
  (:func:`~bayescmoe.workflow.fitting.fit`, then :func:`~bayescmoe.workflow.predicting.predict` at the MAP, or
  the posterior predictive of the NUTS draws);
- ``refit``: a ``LogisticRegression`` fitted on the n target rows alone (a class absent from them gets
  probability 0), and ``pooled``: one fitted on the source and the n rows.

Per method and cell: the held-out log loss (probabilities clipped below at :data:`CLIP`, as scikit-learn's
``log_loss`` does) and its standard error over the rows, the accuracy, the expected calibration error of the
top class over :data:`BINS` equal-width confidence bins, and each bin's count, summed confidence and hits (for a
reliability diagram). Per cell: the collapse report's verdict, the PSIS-LOO gain of the adapter over p0 on the
n rows (:func:`~bayescmoe.diagnostics.predictive.prompt_evidence`), the held-out gain per row of the posterior
predictive over p0 with its paired standard error, the rows the adapter explains (posterior median of
n wbar, the collapse report's ``prompt_observations``), NUTS divergences and the largest R-hat, whether the MAP
converged, and the posterior mean gate on the held-out rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bayescmoe.diagnostics.collapse import VERDICTS, collapse_report
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.overfitted import code_counts
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.workflow.fitting import fit
from bayescmoe.workflow.predicting import predict

#: the methods compared, in the order of the store's ``method`` coordinate (module docstring)
METHODS = ("frozen", "map", "nuts", "refit", "pooled")
#: equal-width bins of the top class's confidence on [0, 1]
BINS = 10
#: probabilities are clipped below at this before the log loss (scikit-learn's ``log_loss`` clips at machine eps)
CLIP = 1e-15
#: per method: the scores, then per bin the count, summed confidence and hits
METRICS = ("log_loss", "log_loss_se", "accuracy", "ece")
BIN_FIELDS = tuple(f"{field}_{k}" for field in ("count", "confidence", "correct") for k in range(BINS))
#: per cell (``verdict``: its index in VERDICTS)
CELL_FIELDS = (
    "verdict",
    "loo_gain",
    "loo_gain_se",
    "heldout_gain",
    "heldout_gain_se",
    "prompt_observations",
    "divergences",
    "rhat_max",
    "map_converged",
    "gate_mean",
    "seconds",
)
#: the store's one setting
SETTING = "digits-ink"
#: scikit-learn's LogisticRegression as the frozen model and the baselines (its default C = 1)
LOGISTIC = {"max_iter": 5000}


@dataclass(frozen=True)
class ShiftData:
    """The source and target parts (``x`` the features, ``y`` the class codes), p0 on the source (``h0_source``) and
    on the target (``h0``), and the target's held-out rows (``test``) and labelled pool (``pool``) as row indices."""

    x_source: np.ndarray
    y_source: np.ndarray
    h0_source: np.ndarray
    x_target: np.ndarray
    y_target: np.ndarray
    h0: np.ndarray
    test: np.ndarray
    pool: np.ndarray

    @property
    def classes(self) -> int:
        """The number of classes C."""
        return self.h0.shape[1]


def digits_shift(features: int = 5, test_rows: int = 300, seed: int = 0) -> ShiftData:
    """The digits split by ink, their features and the frozen classifier (module docstring); ``seed`` picks the
    held-out rows."""
    pixels, y = load_digits(return_X_y=True)
    ink = pixels.sum(axis=1)
    source = ink < np.median(ink)
    pca = PCA(features).fit(pixels[source])
    z = pca.transform(pixels)
    z /= z[source].std(axis=0)
    frozen = LogisticRegression(**LOGISTIC).fit(z[source], y[source])
    x_target, y_target = z[~source], y[~source]
    rows = np.random.default_rng(seed).permutation(len(y_target))
    return ShiftData(
        z[source], y[source], frozen.predict_proba(z[source]), x_target, y_target, frozen.predict_proba(x_target),
        rows[:test_rows], rows[test_rows:],
    )  # fmt: skip


def adapter_spec(data: ShiftData, gate: str = "sigmoid") -> ModelSpec:
    """p0 given per row (its probabilities ``h0``), a linear adapter with a bias on the same features, ``gate``."""
    d, c = data.x_target.shape[1], data.classes
    frozen = FrozenExpert("categorical", mean="given", dim=d, classes=c)
    return ModelSpec(frozen, PromptExpert("linear", family="categorical", classes=c), gate=gate)


def scores(prob: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Log loss (and its standard error over the rows), accuracy, ECE and the reliability bins of class
    probabilities ``prob`` (m, C) against codes ``y`` (module docstring)."""
    loss = -np.log(np.clip(prob[np.arange(len(y)), y], CLIP, None))
    top = prob.max(axis=1)
    hit = (prob.argmax(axis=1) == y).astype(float)
    where = np.minimum((top * BINS).astype(int), BINS - 1)
    count = np.bincount(where, minlength=BINS).astype(float)
    confidence = np.bincount(where, weights=top, minlength=BINS)
    correct = np.bincount(where, weights=hit, minlength=BINS)
    out = {
        "log_loss": float(loss.mean()),
        "log_loss_se": float(loss.std(ddof=1) / np.sqrt(len(y))),
        "accuracy": float(hit.mean()),
        "ece": float(np.abs(correct - confidence).sum() / len(y)),
    }
    for field, values in (("count", count), ("confidence", confidence), ("correct", correct)):
        out |= {f"{field}_{k}": float(v) for k, v in enumerate(values)}
    return out


def logistic_probabilities(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, classes: int) -> np.ndarray:
    """scikit-learn's LogisticRegression fitted on (x, y), its probabilities at ``x_new`` over all ``classes``
    (0 for a class absent from y)."""
    model = LogisticRegression(**LOGISTIC).fit(x, y)
    prob = np.zeros((len(x_new), classes))
    prob[:, model.classes_] = model.predict_proba(x_new)
    return prob


def labelled_rows(data: ShiftData, n: int, replicate: int, seed: int) -> np.ndarray:
    """The n labelled target rows of a cell: a random draw from the pool, fixed by (seed, n, replicate)."""
    rng = np.random.default_rng([seed, n, replicate])
    return rng.choice(data.pool, size=n, replace=False)


def shift_cell(data: ShiftData, spec: ModelSpec, chains: Chains, seed: int) -> Callable[[str, int, int], dict]:
    """The cell function of :func:`run_classify_shift`: (setting, n, replicate) -> its record."""
    x_test, y_test, h0_test = data.x_target[data.test], data.y_target[data.test], data.h0[data.test]

    def one(setting: str, n: int, replicate: int) -> dict[str, Any]:
        start = time.perf_counter()
        rows = labelled_rows(data, n, replicate, seed)
        x, y = data.x_target[rows], data.y_target[rows]
        dt = fit(
            spec, x, y, h0=data.h0[rows], methods=("map", "nuts"), key=seed + replicate, predictive=False,
            prior_draws=0, progress_bar=False, **chains._asdict(),
        )  # fmt: skip
        nuts = predict(dt, x_test, h0=h0_test, y_new=y_test, key=seed + replicate)
        at_map = predict(dt, x_test, h0=h0_test, y_new=y_test, method="map")
        pooled = (np.vstack([data.x_source, x]), np.concatenate([data.y_source, y]))
        prob = {
            "frozen": h0_test,
            "map": at_map["probability"].values,
            "nuts": nuts["probability"].values,
            "refit": logistic_probabilities(x, y, x_test, data.classes),
            "pooled": logistic_probabilities(*pooled, x_test, data.classes),
        }
        values: dict[str, Any] = {}
        for method in METHODS:
            for field, value in scores(prob[method], y_test).items():
                values.setdefault(field, [np.nan] * len(METHODS))[METHODS.index(method)] = value
        report = collapse_report(dt)
        m = len(y_test)
        values |= {
            "verdict": float(VERDICTS.index(report.verdict)),
            "loo_gain": report.evidence.value,
            "loo_gain_se": report.evidence.se,
            "heldout_gain": nuts.attrs["elpd_diff"] / m,
            "heldout_gain_se": nuts.attrs["elpd_diff_se"] / m,
            "prompt_observations": report.diagnostics.prompt_observations,
            "divergences": float(report.diagnostics.divergences),
            "rhat_max": max(p.rhat for p in report.diagnostics.parameters),
            "map_converged": float(dt["map"].attrs["converged"]),
            "gate_mean": float(nuts["gate"].mean()),
            "seconds": time.perf_counter() - start,
        }
        return {"setting": setting, "n": n, "replicate": replicate, "values": values}

    return one


def run_classify_shift(
    n_grid: Sequence[int],
    replicates: int,
    out: str | Path,
    *,
    chains: Chains,
    features: int = 5,
    test_rows: int = 300,
    gate: str = "sigmoid",
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (n, replicate) cell (module docstring), resumed from ``out`` if it exists."""
    data = digits_shift(features, test_rows, seed)
    config = {"seed": seed, "features": features, "test_rows": test_rows, "gate": gate, **chains._asdict()}
    attrs = {
        "config": json.dumps(config),
        "verdicts": "|".join(VERDICTS),
        "source_rows": len(data.y_source),
        "target_rows": len(data.y_target),
        "pool_rows": len(data.pool),
    }
    fresh = labelled_dataset([SETTING], list(n_grid), replicates, METHODS, (*METRICS, *BIN_FIELDS), CELL_FIELDS,
                             attrs, label_dim="method")  # fmt: skip
    ds = open_store(Path(out), fresh)
    cell = shift_cell(data, adapter_spec(data, gate), chains, seed)
    return run_cells(ds, Path(out), cell, "classifier on a shifted population", progress=progress)


def _done(ds: xr.Dataset) -> xr.Dataset:
    """The store's one setting, its cells not done set to NaN."""
    cells = ds.isel(setting=0)
    return cells.where(cells["done"] == 1)


def shift_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per (n, method): fits done, and the mean over them of log loss, accuracy and ECE, each with the standard
    error of that mean over the replicates (NaN from one replicate)."""
    cells = _done(ds)
    rows = []
    for n in ds["n"].values:
        for method in METHODS:
            cell = cells.sel({"n": n, "method": method})
            row: dict[str, Any] = {"n": int(n), "method": method, "fits": int((cell["done"] == 1).sum())}
            for metric in ("log_loss", "accuracy", "ece"):
                values = cell[metric].values[np.isfinite(cell[metric].values)]
                row[metric] = float(values.mean()) if values.size else np.nan
                row[f"{metric}_se"] = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else np.nan
            rows.append(row)
    return pd.DataFrame(rows).set_index(["n", "method"])


def fit_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per n: fits done; the medians over them of the PSIS-LOO gain over p0 on the n rows, of the held-out gain
    per row, of the mean gate and of the rows the adapter explains; the fits whose held-out gain is 2 standard
    errors above 0 (below 0); the NUTS divergences (total) and largest R-hat; the MAP fits that did not converge;
    and the collapse verdicts."""
    verdicts = ds.attrs["verdicts"].split("|")
    cells = _done(ds)
    rows = []
    for n in ds["n"].values:
        cell = cells.sel(n=n)
        done = cell["done"].values == 1
        gain, se = cell["heldout_gain"].values[done], cell["heldout_gain_se"].values[done]
        rows.append({
            "n": int(n),
            "fits": int(done.sum()),
            "loo_gain": float(np.median(cell["loo_gain"].values[done])) if done.any() else np.nan,
            "heldout_gain": float(np.median(gain)) if done.any() else np.nan,
            "better": int(np.sum(gain > 2 * se)),
            "worse": int(np.sum(gain < -2 * se)),
            "gate_mean": float(np.median(cell["gate_mean"].values[done])) if done.any() else np.nan,
            "adapter_rows": float(np.median(cell["prompt_observations"].values[done])) if done.any() else np.nan,
            "divergences": int(np.nansum(cell["divergences"].values)),
            "rhat_max": float(np.nanmax(cell["rhat_max"].values)) if done.any() else np.nan,
            "map_not_converged": int(np.sum(cell["map_converged"].values[done] == 0)),
            "verdicts": code_counts(cell["verdict"].values[done], verdicts),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("n")


def reliability(ds: xr.Dataset, n: int) -> pd.DataFrame:
    """Reliability diagram at n, pooled over the replicates: per method and confidence bin, the rows, their mean
    confidence and their accuracy (NaN in an empty bin); ``attrs["n"]`` is n."""
    cell = _done(ds).sel(n=n)
    rows = []
    for method in METHODS:
        at = cell.sel({"method": method})
        for k in range(BINS):
            count = float(np.nansum(at[f"count_{k}"].values))
            conf, hits = (float(np.nansum(at[f"{f}_{k}"].values)) for f in ("confidence", "correct"))
            rows.append({
                "method": method, "bin": k, "count": count,
                "confidence": conf / count if count else np.nan, "accuracy": hits / count if count else np.nan,
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.attrs["n"] = int(n)
    return frame
