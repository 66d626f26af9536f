"""A Griffe extension for the API reference: the package's docstrings are prose written with
Sphinx-style roles (``:func:`fit```, ``:class:`~bayescmoe.model.ModelSpec```); Markdown has no
roles, so each becomes a code span of its target (``~`` keeps the last dotted part, as in Sphinx).
The docstrings themselves are not changed; only the text the site renders.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc|const):`(~?)([^`]+)`")


def markdown_of(text: str) -> str:
    """``text`` with every Sphinx role replaced by a code span of its target."""

    def code(match: re.Match[str]) -> str:
        tilde, target = match.groups()
        target = target.strip()
        if tilde:
            target = target.rsplit(".", 1)[-1]
        return f"`{target}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring Griffe loads (module, class, function, attribute)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
