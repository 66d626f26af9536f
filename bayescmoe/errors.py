"""The one exception type users see: a bad spec, config or data set, naming its field."""

from __future__ import annotations


class BayescmoeError(ValueError):
    """Invalid input. ``field`` names the offending field (e.g. ``frozen.nu`` or ``y``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def require(condition: bool, field: str, message: str) -> None:
    """Raise :class:`BayescmoeError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise BayescmoeError(field, message)
