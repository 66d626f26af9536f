"""Is a prompt needed? The evidence's answer on data with no prompt, a weak one and a moderate one.

A design of frozen experts (Gaussian, Laplace, Student-t(5); linear, h0(x) = x1 - 0.5 x2, variance
nu0 = 0.25), gates (constant lam, sigmoid sigmoid(beta.x + tau) with beta = (0.5, 0)) and prompts:
``none`` (the data come from f0 alone), ``weak`` (the prompt's share of the data is 0.05: lam* = 0.05,
or tau* = logit 0.05) and ``moderate`` (0.15), the prompt N(0.5 x1 + 0.5 x2 + 0.5, 0.1). Each cell
(setting, replicate) simulates n pairs, fits MAP and NUTS (:func:`bayescmoe.fit`, which stores the
evidence for a prompt: Savage-Dickey for the constant gate, PSIS-LOO for the sigmoid gate) and
records the evidence and the collapse report's verdicts with it and from the posterior alone, in a
resumable store (:func:`bayescmoe.studies.store.run_cells`). :func:`needed_rates` tabulates how often
each setting was answered "prompt not needed".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import xarray as xr

from bayescmoe.diagnostics.collapse import VERDICTS, collapse_report
from bayescmoe.model.simulate import simulate
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert
from bayescmoe.results.evidence import stored_evidence
from bayescmoe.studies.collapse_paths import Chains
from bayescmoe.studies.store import labelled_dataset, open_store, run_cells
from bayescmoe.workflow.fitting import fit

FAMILIES = ("gaussian", "laplace", "student_t")
GATES = ("constant", "sigmoid")
#: the prompt's share of the data: none (f0 alone), weak, moderate
SHARES = {"none": 0.0, "weak": 0.05, "moderate": 0.15}
FROZEN = {"mean": "linear", "weight": (1.0, -0.5), "bias": 0.0, "nu": 0.25}
PROMPT = {"a": np.array([0.5, 0.5]), "b": 0.5, "nu": 0.1}
GATE_SLOPE = np.array([0.5, 0.0])
#: the numbers kept per cell; ``verdict`` and ``verdict_posterior`` index ``VERDICTS``, ``criterion`` CRITERIA
FIELDS = ("value", "se", "threshold", "needed", "verdict", "verdict_posterior", "criterion")
CRITERIA = ("savage-dickey", "loo")


def setting_name(family: str, gate: str, share: str) -> str:
    """``family-gate-share``, e.g. ``gaussian-constant-none``."""
    return f"{family}-{gate}-{share}"


def design(families: Sequence[str] = FAMILIES, gates: Sequence[str] = GATES, shares: Sequence[str] = tuple(SHARES)):
    """The settings of the design, by name: (spec, truth) each."""
    out = {}
    for family in families:
        frozen = FrozenExpert(family, df=5.0 if family == "student_t" else None, **FROZEN)
        for gate in gates:
            spec = ModelSpec(frozen, PromptExpert("linear"), gate=gate)
            for share in shares:
                w = SHARES[share]
                if gate == "constant":
                    gate_truth = {"lam": w}
                else:  # w = 0: the gate shut (tau* far below any beta.x)
                    gate_truth = {"beta": GATE_SLOPE, "tau": float(np.log(w / (1 - w))) if w > 0 else -50.0}
                out[setting_name(family, gate, share)] = (spec, {**gate_truth, **PROMPT})
    return out


def prompt_needed_cell(settings: dict[str, tuple[ModelSpec, dict[str, Any]]], chains: Chains, seed: int):
    """The cell function of :func:`run_prompt_needed`: (setting, n, replicate) -> its record."""
    names = list(settings)

    def one(name: str, n: int, replicate: int) -> dict[str, Any]:
        spec, truth = settings[name]
        key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), names.index(name)), replicate)
        k_data, k_fit = jax.random.split(key)
        x, y = simulate(k_data, spec, truth, n)
        dt = fit(
            spec, x, y, methods=("map", "nuts"), key=k_fit, predictive=False, progress_bar=False, **chains._asdict()
        )
        evidence = stored_evidence(dt)
        values = {
            "value": evidence.value,
            "se": evidence.se,
            "threshold": evidence.threshold,
            "needed": float(evidence.needed),
            "verdict": float(VERDICTS.index(collapse_report(dt).verdict)),
            "verdict_posterior": float(VERDICTS.index(collapse_report(dt, evidence=None).verdict)),
            "criterion": float(CRITERIA.index(evidence.criterion)),
        }
        return {"setting": name, "n": n, "replicate": replicate, "values": values}

    return one


def run_prompt_needed(
    settings: dict[str, tuple[ModelSpec, dict[str, Any]]],
    n: int,
    replicates: int,
    out: str | Path,
    *,
    chains: Chains,
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Every (setting, replicate) cell at size n, resumed from ``out`` if it exists."""
    config = {"seed": seed, "n": n, **chains._asdict(), "settings": list(settings)}
    attrs = {"config": json.dumps(config), "verdicts": "|".join(VERDICTS), "criteria": "|".join(CRITERIA)}
    fresh = labelled_dataset(list(settings), [n], replicates, ["-"], (), FIELDS, attrs)
    ds = open_store(Path(out), fresh)
    return run_cells(ds, Path(out), prompt_needed_cell(settings, chains, seed), "prompt needed", progress=progress)


def needed_rates(ds: xr.Dataset) -> pd.DataFrame:
    """Per setting: the criterion, fits done, the share answered "the prompt is needed" and "prompt not
    needed" by the verdict, and the median evidence."""
    rows = ds.isel(n=0).to_dataframe().reset_index()
    rows = rows[rows["done"] == 1]
    verdicts, criteria = ds.attrs["verdicts"].split("|"), ds.attrs["criteria"].split("|")
    rows["not_needed"] = [verdicts[int(v)] == "prompt not needed" for v in rows["verdict"]]
    table = rows.groupby("setting", sort=False).agg(
        criterion=("criterion", lambda c: criteria[int(c.iloc[0])]),
        fits=("done", "size"),
        needed=("needed", "mean"),
        not_needed=("not_needed", "mean"),
        median_evidence=("value", "median"),
    )
    return table.reindex([s for s in ds["setting"].values if s in table.index])
