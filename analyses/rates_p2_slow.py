"""P2's (b-i) with a noise level at which the merging gap is small: is the slowed gate visible?

Gaussian f0 N(y | tanh(e1.x), nu0 = 0.1), prompt N(y | tanh(eta.x), nu) without bias, sigmoid gate
sigmoid(beta.x + tau), d = 8, X ~ N(0, I_8); truth beta* = 1_8 / sqrt(8), tau* = 1,
eta* = e1 (1 + n^-1/8), nu* = nu0 (cell p2-merging-eta-noisy); 12 log-spaced n from 3e4 to 1e6,
20 replicates, the MLE started near the truth. Below 3e4 the gate is not finite yet: 35% of the
gates run away at n = 1e4 (slopes.md of ``--sizes 1e4,1e6,12`` has the table per n), and runaway
errors would dominate the mean errors. The gap between the prompt's and the frozen mean is
0.3 to 0.18 noise sd (P2's own nu0 = 0.001 keeps it at 2-3.5 sd). Theory (uniform bounds): exp(tau)
n^-1/4, beta, eta, nu n^-3/8; the Fisher information at the truth gives beta and tau n^-3/8 (its
d + 1 weakest eigenvalues ~ Delta*^2) and eta, nu n^-1/2. slopes.md adds, per n, the share of
runaway gates and the median gate errors: where the gate becomes finite.

    python analyses/rates_p2_slow.py                       # full protocol (240 fits)
    python analyses/rates_p2_slow.py --sizes 1e4,1e6,12    # from n = 1e4: where the gate becomes finite
    python analyses/rates_p2_slow.py --quick               # 3 sizes up to 1e4, 2 replicates
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("p2-slow", __doc__))
