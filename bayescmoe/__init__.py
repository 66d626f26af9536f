"""bayescmoe: contaminated mixture of experts in NumPyro and JAX.

Importing the package enables float64 and virtual CPU devices (see :mod:`bayescmoe.runtime`).
"""

from bayescmoe.runtime import configure

configure()
