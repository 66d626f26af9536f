"""P2 (b-ii) as written: Gaussian pre-trained expert, prompt eta* = -e1, nu* = 0.001 (1 + n^-1/8).

    p(y | x) = (1 - w(x)) N(y | tanh(eta0.x), nu0) + w(x) N(y | tanh(eta.x), nu),
    w(x) = sigmoid(beta.x + tau)

d = 8, X ~ N(0, I_8), eta0 = e1, nu0 = 0.001; truth beta* = 1_8 / sqrt(8), tau* = 1,
eta* = -e1, nu* = 0.001 (1 + n^-1/8). As written the prompt stays about Delta* = 2 away from the
frozen expert (eta* = -e1 vs eta0 = e1), so the theory predicts n^-1/2 for everything, although
the paper reports slowed slopes; see p2_merging_nu_e1.py for the merging reading.

    python models/p2_merging_nu.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p2-merging-nu", __doc__))
