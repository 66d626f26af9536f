"""P1, not distinguishable: a merging prompt (Gaussian f0, both experts linear).

    p(y | x) = (1 - lam) N(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1; truth lam* = 0.4 and
(a*, b*, nu*) = (a0, b0, nu0) + n^-1/8 (e2, 1, 0.1), so Delta* ~ n^-1/8 -> 0.

The heat equation d^2 N / d b^2 = 2 dN / d nu couples bias and variance; at the merge lam is not
identified. Theory (P1): lam at n^-1/2 / Delta*^2 = n^-1/4, the prompt at n^-1/2/(lam* Delta*) =
n^-3/8. Look at the pair plot: lam against (b, nu) shows the ridge, and the MLE s.e. of lam is much
larger than in p1_family at the same n.

    python models/p1_merging.py --n 2000
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p1-merging", __doc__))
