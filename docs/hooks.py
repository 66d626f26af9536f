"""MkDocs hook: every public name of bayescmoe must have a docstring.

The public names are those of ``bayescmoe.__all__`` and of each layer package's ``__all__``
(:data:`PUBLIC`). The package is read statically with Griffe (nothing is imported, so JAX is not
loaded); every exported function or class without a docstring, every name in an ``__all__`` that
the package does not define, and every missing layer package is logged as a warning, which
``mkdocs build --strict`` (``make docs``) turns into a failed build.
"""

from __future__ import annotations

from pathlib import Path

import griffe
from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger("bayescmoe-docstrings")

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bayescmoe"
#: the packages whose ``__all__`` is the public API (the top level and each layer)
PUBLIC = (
    "bayescmoe",
    "bayescmoe.model",
    "bayescmoe.inference",
    "bayescmoe.results",
    "bayescmoe.diagnostics",
    "bayescmoe.workflow",
    "bayescmoe.studies",
    "bayescmoe.plots",
    "bayescmoe.cli",
)


def undocumented(package: griffe.Module) -> list[str]:
    """The problems found in the public names of ``package`` and its layer packages, one line each."""
    problems = []
    for path in PUBLIC:
        try:
            module = package[path.removeprefix(PACKAGE).lstrip(".")] if path != PACKAGE else package
        except KeyError:
            problems.append(f"{path}: no such package (it is listed as a public layer in docs/hooks.py)")
            continue
        exports = module.exports
        if exports is None:
            problems.append(f"{path}: defines no __all__")
            continue
        for name in sorted(str(entry) for entry in exports):
            try:
                member = module[name]
            except KeyError:
                problems.append(f"{path}.{name}: listed in __all__ but not defined")
                continue
            try:
                target = member.final_target if member.is_alias else member
            except griffe.AliasResolutionError:
                problems.append(f"{path}.{name}: cannot resolve {member.target_path}")
                continue
            if (target.is_function or target.is_class) and not (target.docstring and target.docstring.value.strip()):
                problems.append(f"{path}.{name} ({target.path}): no docstring")
    return problems


def on_pre_build(config, **kwargs) -> None:
    """Load the package statically and warn once per public name without a docstring."""
    package = griffe.load(PACKAGE, search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False)
    problems = undocumented(package)
    for problem in problems:
        log.warning(problem)
    if not problems:
        log.info("every public name of %s has a docstring", PACKAGE)
