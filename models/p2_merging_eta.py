"""P2 (b-i), not distinguishable: Gaussian pre-trained expert, prompt slope merging into it.

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1,
eta* = e1 (1 + n^-1/8), nu* = 0.001: Delta* = n^-1/8. Theory (P2): exp(tau) at
n^-1/2 / Delta*^2 = n^-1/4, (beta, eta, nu) at n^-1/2 / Delta* = n^-3/8; the paper reports
slopes -0.37, -0.23, -0.39, -0.35. The prompt slope is named a.

    python models/p2_merging_eta.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p2-merging-eta", __doc__))
