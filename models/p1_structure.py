"""P1, distinguishable by structure: Gaussian linear pre-trained expert, sigmoid prompt.

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | sigmoid(a.x + b), nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.3, a* = 2 e2, b* = 0,
nu* = 0.1. Both experts are Gaussian, but a sigmoid prompt can never reproduce a linear mean, so
the prompt cannot merge into the frozen expert (P1): parametric n^-1/2 rates as in p1_family.

    python models/p1_structure.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p1-structure", __doc__))
