"""The results layer: one self-describing ``xarray.DataTree`` per fit, its files, configs and tables.

``datatree`` (build, save, load, rebuild the spec and data from a file), ``config`` (settings and
specs from TOML), ``data`` (users' CSV, ``.npz`` and NetCDF data files), ``tables`` (the per-fit
table and its header) and ``workflow`` (:func:`fit`: data to a complete result in one call;
:func:`run_setting`: simulate a named setting and fit it). Imports the model and inference layers.
"""

from bayescmoe.results.config import load_setting, load_spec, setting_from_config
from bayescmoe.results.data import read_data
from bayescmoe.results.datatree import data_of, load, log_likelihood_of, params_of, save, spec_of, to_datatree
from bayescmoe.results.tables import describe, fit_table, format_table
from bayescmoe.results.workflow import fit, fit_file, run_setting

__all__ = [
    "data_of",
    "describe",
    "fit",
    "fit_file",
    "fit_table",
    "format_table",
    "load",
    "load_setting",
    "load_spec",
    "log_likelihood_of",
    "params_of",
    "read_data",
    "run_setting",
    "save",
    "setting_from_config",
    "spec_of",
    "to_datatree",
]
