"""The convergence-rate experiment of P1 (arXiv 2410.12258), in P2's style (docs/science.md: *The experiments*).

P1's protocol is not public; our cells: constant gate, d = 8, X ~ N(0, I_8), linear pre-trained
expert a0 = e1, b0 = 0, nu0 = 0.1; 20 log-spaced n from 1e3 to 1e5, 40 replicates:
  p1-family     Student-t(5) f0, linear prompt, lam* = 0.3          theory -1/2 for lam and prompt
  p1-structure  Gaussian f0, sigmoid prompt, lam* = 0.3              theory -1/2
  p1-merging    Gaussian f0, linear prompt = pre-trained + n^-1/8 u   lam -1/4, prompt -3/8
  p1-vanishing  p1-family with lam*_n = 0.5 n^-1/4                    lam -1/2, prompt -1/4
Errors |lam_hat - lam*|, ||a_hat - a*||, |b_hat - b*|, |nu_hat - nu*| against each n's truth.

    python analyses/rates_p1.py           # full protocol
    python analyses/rates_p1.py --quick   # 3 sizes up to 1e4, 2 replicates
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("p1", __doc__))
