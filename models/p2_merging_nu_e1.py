"""P2 (b-ii) with eta* = e1: the prompt variance merging into the Gaussian pre-trained expert.

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1, eta* = e1,
nu* = 0.001 (1 + n^-1/8): Delta* = 0.001 n^-1/8 -> 0. This is our reading of P2's (b-ii) (probably
a typo for eta* = e1): the prompt merges, and the theory gives exp(tau) at n^-1/4 and
(beta, eta, nu) at n^-3/8.

    python models/p2_merging_nu_e1.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p2-merging-nu-e1", __doc__))
