"""The inference layer: MLE and MAP by compiled L-BFGS, EM as the papers ran it, and NUTS.

``lbfgs`` (optax L-BFGS in one ``lax.while_loop``), ``optimize`` (:func:`fit_mle`, :func:`fit_map`:
several starts, the observed information, standard errors), ``em`` (expectation-maximisation),
``nuts`` (:func:`fit_nuts` and the compiled program under it,
:func:`~bayescmoe.inference.nuts.nuts_program`; :func:`~bayescmoe.inference.nuts.compiled_nuts` for
replicate studies), ``predictive`` (prior and predictive draws, pointwise log-likelihoods) and
``tempered`` (:func:`power_posterior`: NUTS on power posteriors, for the learning coefficient,
WBIC and the evidence). Imports the model layer.
"""

from bayescmoe.inference.em import EMResult, em_fit
from bayescmoe.inference.lbfgs import Minimum, minimize
from bayescmoe.inference.nuts import NutsFit, fit_nuts
from bayescmoe.inference.optimize import PointEstimate, fit_map, fit_mle
from bayescmoe.inference.tempered import PowerDraws, ladder, power_posterior

__all__ = [
    "EMResult",
    "Minimum",
    "NutsFit",
    "PointEstimate",
    "PowerDraws",
    "em_fit",
    "fit_map",
    "fit_mle",
    "fit_nuts",
    "ladder",
    "minimize",
    "power_posterior",
]
