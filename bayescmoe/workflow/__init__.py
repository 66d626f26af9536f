"""The workflow layer: from data to one complete result.

``fitting`` (:func:`fit`: MLE, MAP and NUTS of a spec on data, in one DataTree; :func:`run_setting`:
simulate a named setting and fit it; :func:`split_seed`: the data and fit keys of a seed) and
``predicting`` (:func:`predict`: predictive draws, means, gates and held-out scores at new rows).
Imports the model, inference, results and diagnostics layers.
"""

from bayescmoe.workflow.fitting import fit, run_setting, split_seed
from bayescmoe.workflow.predicting import predict

__all__ = ["fit", "predict", "run_setting", "split_seed"]
