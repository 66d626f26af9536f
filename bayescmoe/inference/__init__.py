"""The inference layer: MLE and MAP by compiled L-BFGS, EM as the papers ran it, and NUTS.

``lbfgs`` (optax L-BFGS in one ``lax.while_loop``), ``optimize`` (:func:`fit_mle`, :func:`fit_map`:
several starts, the observed information, standard errors), ``em`` (expectation-maximisation) and
``nuts`` (:func:`fit_nuts` and the compiled program under it, :func:`nuts_program`; :func:`compiled_nuts` for
replicate studies), ``tempered`` (:func:`power_posterior`: NUTS on power posteriors, for the learning
coefficient, WBIC and the evidence). Imports the model layer.
"""

from bayescmoe.inference.em import EMResult, em_fit
from bayescmoe.inference.lbfgs import Minimum, minimize
from bayescmoe.inference.nuts import NutsFit, compiled_nuts, fit_nuts, nuts_program
from bayescmoe.inference.optimize import PointEstimate, fit_map, fit_mle
from bayescmoe.inference.tempered import PowerDraws, ladder, power_posterior

__all__ = [
    "EMResult",
    "Minimum",
    "NutsFit",
    "PointEstimate",
    "PowerDraws",
    "compiled_nuts",
    "em_fit",
    "fit_map",
    "fit_mle",
    "fit_nuts",
    "ladder",
    "minimize",
    "nuts_program",
    "power_posterior",
]
