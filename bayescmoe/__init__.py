"""bayescmoe: the contaminated mixture of experts in NumPyro and JAX (the public API).

Importing the package enables float64 and virtual CPU devices first (:mod:`bayescmoe.runtime`),
then exposes the names below. The layers, each importing only those before it:
``model`` -> ``inference`` -> ``results`` -> ``diagnostics`` -> ``studies`` -> ``plots`` -> ``cli``,
on the foundations ``errors``, ``files`` and ``runtime``. Deep imports
(``bayescmoe.inference.optimize.fit_map``) stay available.
"""

from bayescmoe.runtime import configure

configure()

from bayescmoe.diagnostics import CollapseReport, SingularReport, collapse_report, diagnose, singular_report  # noqa: E402
from bayescmoe.errors import BayescmoeError  # noqa: E402
from bayescmoe.inference import (  # noqa: E402
    NutsFit,
    PointEstimate,
    compiled_nuts,
    fit_map,
    fit_mle,
    fit_nuts,
    power_posterior,
)
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
    summed_log_likelihood,
)
from bayescmoe.results import (  # noqa: E402
    data_of,
    describe,
    fit,
    fit_file,
    load,
    load_setting,
    load_spec,
    log_likelihood_of,
    params_of,
    read_data,
    run_setting,
    save,
    spec_of,
    to_datatree,
)

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
    "collapse_report",
    "compiled_nuts",
    "configure",
    "data_of",
    "describe",
    "diagnose",
    "fit",
    "fit_file",
    "fit_map",
    "fit_mle",
    "fit_nuts",
    "get_setting",
    "load",
    "load_setting",
    "load_spec",
    "log_likelihood",
    "log_likelihood_of",
    "model_inputs",
    "params_of",
    "power_posterior",
    "read_data",
    "run_setting",
    "save",
    "simulate",
    "singular_report",
    "spec_of",
    "summed_log_likelihood",
    "to_datatree",
]
