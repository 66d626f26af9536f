"""P1, a vanishing prompt: the p1_family cell with lam*_n = 0.5 n^-1/4.

    p(y | x) = (1 - lam) t_5(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); as p1_family but lam*_n = 0.5 n^-1/4 (0.075 at n = 2000). The prompt is
distinguishable, yet only about n lam* points come from it: lam at n^-1/2, the prompt at
n^-1/2 / lam* = n^-1/4 (P1). Expect wide posteriors for (a, b, nu) and lam's mass near 0.

    python models/p1_vanishing.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p1-vanishing", __doc__))
