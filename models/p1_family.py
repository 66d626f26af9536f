"""P1, distinguishable by family: a Student-t pre-trained expert contaminated by a Gaussian prompt.

    p(y | x) = (1 - lam) t_5(y | a0.x + b0, nu0) + lam N(y | a.x + b, nu)

d = 8, X ~ N(0, I_8); frozen a0 = e1, b0 = 0, nu0 = 0.1 (nu is the variance: the t scale is
sqrt(nu0 (df - 2) / df)); truth lam* = 0.3, a* = -e1 + e2, b* = 0.5, nu* = 0.1.

A Student-t f0 is never a combination of Gaussian densities and their derivatives, so the prompt is
distinguishable (P1, P2 Definition 1): |lam_hat - lam*| ~ n^-1/2 and the prompt at n^-1/2 / lam*.
Expect R-hat near 1, a posterior mean within a few s.e. of the MLE, and MLE s.e. ~ posterior sd.

    python models/p1_family.py --n 2000 --num-samples 500
"""

from bayescmoe.cli import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("p1-family", __doc__))
