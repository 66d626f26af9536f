"""The one exception type users see (a bad spec, config or data set, naming its field) and the warning
a fit gives when its sampler or optimiser did not do what its numbers seem to say."""

from __future__ import annotations

import numbers

import numpy as np


class BayescmoeError(ValueError):
    """Invalid input. ``field`` names the offending field (e.g. ``frozen.nu`` or ``y``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        """Pickled by field and message, so that it crosses processes (a Dask worker's fit raising it)."""
        return type(self), (self.field, self.message)


class FitWarning(UserWarning):
    """A fit that ran but should not be trusted as it stands: R-hat, ESS, divergences, E-BFMI (Stan's and
    ArviZ's checks), or an estimate whose standard errors are undefined."""


def require(condition: bool, field: str, message: str) -> None:
    """Raise :class:`BayescmoeError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise BayescmoeError(field, message)


def as_floats(value: object, field: str) -> np.ndarray:
    """``value`` as a float array, or a :class:`BayescmoeError` for ``field`` if it is not numeric."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise BayescmoeError(field, f"must be numeric, got {value!r}") from None


def require_positive_ints(**values: object) -> None:
    """Raise for the first of ``values`` (name=value) that is not a positive integer (NumPy integers count)."""
    for name, value in values.items():
        ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value > 0
        require(ok, name, f"must be a positive integer, got {value!r}")
