"""Defaults and choices that a layer and the command line share, in a module that imports nothing, so
that the command's flags can show them without loading JAX (``bayescmoe --help``)."""

#: the localiser's precision on the unconstrained scale when none is given (module docstring of
#: :mod:`bayescmoe.diagnostics.singular`: weak against n t times the curvature of a regular fit)
GAMMA = 1.0
#: temperatures of the evidence ladder (K + 1 power posteriors, powers 0 .. 1) by default
NUM_TEMPERATURES = 32
#: how a saved result can store its pointwise groups: as computed, or in half the bytes (the first is the default)
POINTWISE_DTYPES = ("float64", "float32")
#: the most variables (a coordinate counts as one) the default pair plot shows
PAIR_MAX = 6
#: the criteria that choose the number of prompts (:mod:`bayescmoe.studies.prompts`); the first four by default
PROMPT_CRITERIA = ("loo", "loo-2se", "wbic", "llc", "evidence")
