"""The results layer: one self-describing ``xarray.DataTree`` per fit, its files and tables.

``datatree`` (build, save, load, rebuild the spec and data from a file), ``data`` (users' CSV,
``.npz`` and NetCDF data files), ``evidence`` (the evidence for a prompt a result holds) and
``tables`` (the per-fit table and its header). Imports the
model and inference layers.
"""

from bayescmoe.results.data import read_data
from bayescmoe.results.datatree import data_of, load, log_likelihood_of, params_of, save, spec_of, to_datatree
from bayescmoe.results.evidence import Evidence, stored_evidence
from bayescmoe.results.tables import describe, fit_table, format_table

__all__ = [
    "Evidence",
    "data_of",
    "describe",
    "fit_table",
    "format_table",
    "load",
    "log_likelihood_of",
    "params_of",
    "read_data",
    "save",
    "spec_of",
    "stored_evidence",
    "to_datatree",
]
