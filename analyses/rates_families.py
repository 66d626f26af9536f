"""Non-Gaussian prompts merging into a frozen expert of their own family: does the merge still slow estimation?

P1's slowed-rate design (analyses/rates_p1_slow.py) with three families for both experts: linear
experts, constant gate lam* = 0.4, d = 8, X ~ N(0, I_8), frozen a0 = e1, b0 = 0, variance nu0 = 0.1;
the prompt is the frozen expert moved by Delta* = 0.7 n^-1/8 noise units, (a*, b*, nu*) =
(a0, b0, nu0) + Delta* (s e2, s, nu0) with s the frozen family's scale (bayescmoe.model.settings.noise_move);
the first 9 sizes of the slowed-rate grid (1e4 to 2.8e5), 40 replicates, the MLE started near the truth. Cells:
  p1-merging-slow          Gaussian f0 and prompt, s = sd: lam n^-1/4; b, nu, a_merge n^-3/8; a_perp n^-1/2
  p1-merging-slow-t5       Student-t(5) f0 and prompt, s = sqrt(0.6 nu0): no rate proved
  p1-merging-slow-laplace  Laplace f0 and prompt, s = sqrt(nu0 / 2): no rate proved (a density with a kink)
The cells distinguishable by family are analyses/rates_families_distinct.py.

    python analyses/rates_families.py           # full protocol (1080 fits)
    python analyses/rates_families.py --quick   # 3 sizes up to 1e4, 2 replicates
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("families", __doc__))
