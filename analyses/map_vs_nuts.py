"""MAP/MLE Wald intervals against NUTS credible intervals over replicate datasets.

Model: P1's cells (bayescmoe.model.settings, d = 8, linear experts, constant gate), at n = 1000:
  p1-family     Student-t(5) f0: distinguishable, lam* = 0.3
  p1-merging    Gaussian f0, prompt = pre-trained + n^-1/8 (e2, 1, 0.1): Delta* = 0.42 at n = 1000
  p1-vanishing  Student-t(5) f0, lam* = 0.5 n^-1/4 = 0.089 at n = 1000
Per replicate (the data of the rate sweep's cell, same seed): MLE (flat priors) and MAP (default
priors: Beta(1, 1), Normal(0, 3), InverseGamma(2, nu0)) from the truth with Wald intervals
theta_hat +- 1.645 se (observed information), then NUTS from the MAP (4 chains x 400 + 300) and its
equal-tailed 90% credible interval. Reported per parameter group: frequentist coverage (share of
replicates whose interval holds the truth), median width, RMSE of MLE / MAP / posterior mean /
posterior median, and the median |MAP - posterior mean| in posterior sd.

    python analyses/map_vs_nuts.py            # 3 settings x 100 replicates at n = 1000
    python analyses/map_vs_nuts.py --quick    # 3 settings x 4 replicates at n = 300, 2 chains x 100 + 100

Writes <out>/study.nc (resumable: rerun the same command after an interruption), coverage.csv,
errors.csv, coverage.txt and coverage.png.

Background: docs/science.md, *What the papers leave open*.
"""

import bayescmoe
from bayescmoe.cli.studies import study_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(study_main("map-vs-nuts", __doc__))
