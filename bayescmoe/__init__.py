"""bayescmoe: the contaminated mixture of experts in NumPyro and JAX (the public API).

``import bayescmoe`` switches JAX to float64 and does nothing else (:mod:`bayescmoe.runtime`): the
names below and the layers are imported when first used, so the import itself loads no JAX;
:func:`configure` (virtual CPU devices for parallel chains, the persistent compilation cache) is an
explicit call, made before any JAX computation. The names below are one door per verb; each layer
keeps its own public surface (``bayescmoe.model``, ``bayescmoe.inference``, ...). The layers, each
importing only those before it: ``model`` -> ``inference`` -> ``results`` -> ``diagnostics`` ->
``workflow`` -> ``studies`` -> ``plots`` -> ``cli``, on the foundations ``errors``, ``files``,
``runtime`` and ``defaults``.
"""

import importlib as _importlib
import typing as _typing
from importlib.metadata import version as _version

from bayescmoe.errors import BayescmoeError
from bayescmoe.runtime import configure
from bayescmoe.runtime import enable_float64 as _enable_float64

_enable_float64()

__version__ = _version("bayescmoe")

#: the layer packages, from the bottom up: a public name comes from the lowest one that exports it
_LAYERS = ("model", "inference", "results", "diagnostics", "workflow", "studies", "plots", "cli")


def __getattr__(name: str) -> object:
    """The public names and the layer packages, imported on first use (PEP 562)."""
    if name in _LAYERS:
        return _importlib.import_module(f"bayescmoe.{name}")
    if name in __all__:
        for layer in _LAYERS:
            module = _importlib.import_module(f"bayescmoe.{layer}")
            if name in module.__all__:
                globals()[name] = value = getattr(module, name)
                return value
    raise AttributeError(f"module 'bayescmoe' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What is loaded and what would load on use."""
    return sorted({*globals(), *__all__})


if _typing.TYPE_CHECKING:  # the same names, for static readers (type checkers, the API reference)
    from bayescmoe.diagnostics import CollapseReport, collapse_report, diagnose, frozen_baseline, relabel
    from bayescmoe.inference import NutsFit, PointEstimate, fit_map, fit_mle, fit_nuts
    from bayescmoe.model import (
        FrozenExpert,
        ModelSpec,
        Prior,
        PromptExpert,
        Rate,
        Setting,
        Truth,
        get_setting,
        log_likelihood,
        model_inputs,
        simulate,
    )
    from bayescmoe.results import describe, load, read_data, save, to_datatree
    from bayescmoe.studies import SingularReport, ladder_evidence, singular_report
    from bayescmoe.workflow import fit, predict

__all__ = [
    "BayescmoeError",
    "CollapseReport",
    "FrozenExpert",
    "ModelSpec",
    "NutsFit",
    "PointEstimate",
    "Prior",
    "PromptExpert",
    "Rate",
    "Setting",
    "SingularReport",
    "Truth",
    "__version__",
    "collapse_report",
    "configure",
    "describe",
    "diagnose",
    "fit",
    "fit_map",
    "fit_mle",
    "fit_nuts",
    "frozen_baseline",
    "get_setting",
    "ladder_evidence",
    "load",
    "log_likelihood",
    "model_inputs",
    "predict",
    "read_data",
    "relabel",
    "save",
    "simulate",
    "singular_report",
    "to_datatree",
]
