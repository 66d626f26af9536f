"""The evidence for a prompt against the frozen expert alone, as a record and as a result stores it.

:class:`Evidence` is what :func:`bayescmoe.diagnostics.predictive.prompt_evidence` (Savage-Dickey,
PSIS-LOO) and :func:`bayescmoe.studies.singular.ladder_evidence` (stepping-stone) return:
a criterion, its value and standard error, and the value from which the prompt counts as needed.
:func:`bayescmoe.fit` stores it in the result's attribute ``prompt_evidence`` (:func:`stored_evidence`).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import xarray as xr

#: the attribute of a result that holds its evidence (JSON)
ATTRIBUTE = "prompt_evidence"


class Evidence(NamedTuple):
    """Evidence for a prompt: ``criterion`` (``savage-dickey``, ``loo`` or ``ladder``), its ``value`` (a log
    Bayes factor, or the elpd_loo gain over f0) with standard error ``se``, and the ``threshold`` from
    which the prompt is needed."""

    criterion: str
    value: float
    se: float
    threshold: float

    @property
    def needed(self) -> bool:
        """Whether the data call for the prompt: the value reaches the threshold."""
        return bool(self.value >= self.threshold)

    @property
    def label(self) -> str:
        """What the value is, in words."""
        return "elpd_loo gain over f0" if self.criterion == "loo" else f"log Bayes factor ({self.criterion})"

    def render(self) -> str:
        """One line: the criterion, value +/- s.e., and the decision."""
        decision = "the prompt is needed" if self.needed else "prompt not needed"
        return f"{self.label} {self.value:.3g} +/- {self.se:.2g} (needed from {self.threshold:.3g}): {decision}"

    def to_json(self) -> str:
        """The form :func:`stored_evidence` reads back."""
        return json.dumps(self._asdict())


def stored_evidence(dt: xr.DataTree) -> Evidence | None:
    """The evidence a result holds (:func:`bayescmoe.fit` stores it), or None."""
    text = dt.attrs.get(ATTRIBUTE)
    return Evidence(**json.loads(text)) if text else None
