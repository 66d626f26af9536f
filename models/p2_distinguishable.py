"""P2 (a), distinguishable: Laplace pre-trained expert, softmax (sigmoid) gate, tanh experts.

    p(y | x) = (1 - w(x)) Laplace(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

The paper's experiment (section 5): d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001 (a variance:
Laplace scale sqrt(nu0 / 2)); truth beta* = 1_8 / sqrt(8), tau* = 1, eta* = -e1, nu* = 0.001.
The prompt has no inner bias (P2's strong identifiability). Laplace f0 is distinguishable from
the Gaussian prompt, so every parameter converges at n^-1/2 (P2, Theorem 2); reported slopes
-0.45 (beta), -0.52 (exp tau), -0.50 (eta), -0.54 (nu). Prompt parameters are named (a, nu).

    python models/p2_distinguishable.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p2-distinguishable", __doc__))
