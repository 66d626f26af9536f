"""Reproduce P2's convergence-rate experiment (section 5 of arXiv 2505.18455; docs/science.md: *The experiments*).

d = 8, X ~ N(0, I_8), tanh experts without bias, eta0 = e1, nu0 = 0.001, beta* = 1_8/sqrt(8),
tau* = 1; 20 log-spaced n from 1e3 to 1e5, 40 replicates per n, the MLE of each data set. Cells:
  (a)    p2-distinguishable  Laplace f0, eta* = -e1               theory -1/2 everywhere
  (b-i)  p2-merging-eta      Gaussian f0, eta* = e1 (1 + n^-1/8)   exp(tau) -1/4, the rest -3/8
  (b-ii) p2-merging-nu       Gaussian f0, eta* = -e1, nu* = 0.001 (1 + n^-1/8), as written (-1/2)
         p2-merging-nu-e1    the same with eta* = e1 (the merging reading of b-ii)
Errors ||beta_hat - beta*||, |tau_hat - tau*|, |exp(tau_hat) - exp(tau*)|, ||eta_hat - eta*||,
|nu_hat - nu*| against the truth of each n; slopes of log(mean error) on log(n) with bootstrap
intervals, next to the paper's slopes and the theory's.

    python analyses/rates_p2.py                  # full protocol (3200 fits)
    python analyses/rates_p2.py --quick          # 3 sizes up to 1e4, 2 replicates
    python analyses/rates_p2.py --estimator em   # EM, as the paper computed the MLE
    python analyses/rates_p2.py --init random    # random starts instead of starts near the truth
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("p2", __doc__))
