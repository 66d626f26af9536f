"""bayescmoe: the contaminated mixture of experts in NumPyro and JAX (the public API).

``import bayescmoe`` switches JAX to float64 and does nothing else (:mod:`bayescmoe.runtime`);
:func:`configure` (virtual CPU devices for parallel chains, the persistent compilation cache) is an
explicit call, made before any JAX computation. The names below are one door per verb; each layer
keeps its own public surface (``bayescmoe.model``, ``bayescmoe.inference``, ...). The layers, each
importing only those before it: ``model`` -> ``inference`` -> ``results`` -> ``diagnostics`` ->
``workflow`` -> ``studies`` -> ``plots`` -> ``cli``, on the foundations ``errors``, ``files`` and
``runtime``.
"""

from importlib.metadata import version as _version

from bayescmoe.runtime import configure
from bayescmoe.runtime import enable_float64 as _enable_float64

_enable_float64()

from bayescmoe.diagnostics import CollapseReport, collapse_report, diagnose, frozen_baseline  # noqa: E402
from bayescmoe.errors import BayescmoeError  # noqa: E402
from bayescmoe.inference import NutsFit, PointEstimate, fit_map, fit_mle, fit_nuts  # noqa: E402
from bayescmoe.model import (  # noqa: E402
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
from bayescmoe.results import describe, load, read_data, save, to_datatree  # noqa: E402
from bayescmoe.studies import SingularReport, singular_report  # noqa: E402
from bayescmoe.workflow import fit, predict  # noqa: E402

__version__ = _version("bayescmoe")

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
    "load",
    "log_likelihood",
    "model_inputs",
    "predict",
    "read_data",
    "save",
    "simulate",
    "singular_report",
    "to_datatree",
]
