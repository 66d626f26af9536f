"""The inference layer: MLE and MAP by compiled L-BFGS, EM as the papers ran it, and NUTS.

``lbfgs`` (optax L-BFGS in one ``lax.while_loop``), ``optimize`` (:func:`fit_mle`, :func:`fit_map`:
several starts, the observed information, standard errors), ``em`` (expectation-maximisation) and
``nuts`` (:func:`fit_nuts` and the compiled program under it, :func:`nuts_program`; :func:`compiled_nuts` for
replicate studies). Imports the model layer.
"""

from bayescmoe.inference.em import EMResult, em_fit
from bayescmoe.inference.lbfgs import Minimum, minimize
from bayescmoe.inference.nuts import NutsFit, compiled_nuts, fit_nuts, nuts_program
from bayescmoe.inference.optimize import PointEstimate, constrain, fit_map, fit_mle, unconstrain

__all__ = [
    "EMResult",
    "Minimum",
    "NutsFit",
    "PointEstimate",
    "compiled_nuts",
    "constrain",
    "em_fit",
    "fit_map",
    "fit_mle",
    "fit_nuts",
    "minimize",
    "nuts_program",
    "unconstrain",
]
