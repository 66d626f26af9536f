"""P1's slowed rates made visible: a merging prompt whose gap to the frozen expert is small against the noise.

Gaussian f0 N(y | e1.x + 0, nu0 = 0.1), linear prompt, constant gate lam* = 0.4, d = 8, X ~ N(0, I_8).
The prompt is the frozen expert moved by Delta* in noise units, (a*, b*, nu*) = (a0, b0, nu0) +
Delta* (sd e2, sd, nu0), sd = sqrt(nu0); 12 log-spaced n from 1e4 to 1e6, 40 replicates, the MLE
started near the truth. Cells (theory: docs/science.md: *The rates* with Delta* = 0.7 n^-alpha):
  p1-merging-slow     alpha = 1/8: lam n^-1/4; b, nu and the slope along e2 (a_merge) n^-3/8; a_perp n^-1/2
  p1-merging-quarter  alpha = 1/4: lam n^0 (the gate stops converging); prompt n^-1/4; a_perp n^-1/2
  p1-vanishing        lam* = 0.5 n^-1/4 (Student-t(5) f0): lam n^-1/2, prompt n^-1/4 (uniform bounds;
                      local rates n^-5/8 and n^-3/8 for a prompt separated from f0)
Why this design: over 1e3..1e5 the p1-merging cell's gap stays 1-1.9 noise sd, so the local
expansion behind the slowed rates does not hold; here it is 0.22 to 0.13 sd (alpha = 1/8), and the
Fisher information at the truth predicts sd(lam) / lam* from 0.27 to 0.07: the gate is finite.

    python analyses/rates_p1_slow.py           # full protocol (1440 fits)
    python analyses/rates_p1_slow.py --quick   # 3 sizes up to 1e4, 2 replicates
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("p1-slow", __doc__))
