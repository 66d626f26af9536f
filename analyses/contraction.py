"""Posterior contraction against n in each regime, next to the MLE's rate on the same data.

Model: P1's cells (bayescmoe.model.settings, d = 8), the truth moving with n as in the rate experiments:
  p1-family     distinguishable: everything at n^-1/2
  p1-merging    Delta* = n^-1/8: theory lam n^-1/4, prompt n^-3/8 (the rate sweep saw ~ n^-1/2 over 1e3..1e5)
  p1-vanishing  lam* = 0.5 n^-1/4: theory lam n^-1/2, prompt n^-1/4
Per n in 1000, 2069, 4281, 8859, 18330 (every third size of the rate grid) and replicate: MLE,
MAP and NUTS (4 chains x 400 + 300) on the rate sweep's data. Per parameter group: posterior sd
sqrt(sum of variances), error of the posterior mean and of the MLE; their log-log slopes against n
with 95% bootstrap intervals, and the theory's slope.

    python analyses/contraction.py            # 3 settings x 5 sizes x 10 replicates
    python analyses/contraction.py --quick    # 3 settings x 2 sizes (300, 600) x 2 replicates

Writes <out>/study.nc (resumable), contraction.txt and <setting>-<quantity>.png.

Background: docs/science.md, *The rates*.
"""

import bayescmoe
from bayescmoe.cli.studies import study_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(study_main("contraction", __doc__))
