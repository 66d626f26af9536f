"""Prompts distinguishable from the frozen expert by their family: n^-1/2 beyond the Gaussian prompt?

P1's design (analyses/rates_p1.py): linear experts, constant gate lam* = 0.3, d = 8, X ~ N(0, I_8),
frozen a0 = e1, b0 = 0, nu0 = 0.1, prompt a* = -e1 + e2, b* = 0.5, nu* = 0.1 (nu is a variance in
every family); 20 log-spaced n from 1e3 to 1e5, 20 replicates, the MLE started near the truth. Cells:
  p1-family          Student-t(5) f0, Gaussian prompt: every group n^-1/2 (P1, distinguishable)
  p1-laplace-prompt  Gaussian f0, Laplace prompt: no rate proved
  p1-t5-prompt       Gaussian f0, Student-t(5) prompt: no rate proved
The merging cells of the same families are analyses/rates_families.py.

    python analyses/rates_families_distinct.py           # full protocol (1200 fits)
    python analyses/rates_families_distinct.py --quick   # 3 sizes up to 1e4, 2 replicates
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("families-distinct", __doc__))
