"""The workflow layer: from data to one complete result.

``fitting`` (:func:`fit`: MLE, MAP and NUTS of a spec on data, in one DataTree; :func:`run_setting`:
simulate a named setting and fit it; :func:`split_seed`: the data and fit keys of a seed). Imports
the model, inference, results and diagnostics layers.
"""

from bayescmoe.workflow.fitting import fit, run_setting, split_seed

__all__ = ["fit", "run_setting", "split_seed"]
