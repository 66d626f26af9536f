"""Classification: do homogeneous adapters, which can merge into the frozen classifier, slow estimation down?

A frozen multinomial logistic classifier p0 (C = 3 classes, d = 2, X ~ N(0, I_2)) contaminated by an adapter
softmax(0, eta(x)) through a constant gate (lam* = 0.5) or a sigmoid one (beta* = (1, -0.5), tau* = -0.4);
8 log-spaced n from 1e4 to 2e5, 40 replicates, the MLE started near the truth (docs/classification.md:
*Rates: homogeneous against heterogeneous adapters*). Cells:
  classify-merging-constant   linear adapter = p0's + n^-1/8 (a: diag(1, 1), b: (0.5, -0.5)): no rate entered
  classify-merging-sigmoid    the same behind the sigmoid gate: no rate entered
  classify-distinct-constant  tanh adapter, a* with unit rows, fixed: n^-1/2
  classify-distinct-sigmoid   the same behind the sigmoid gate: n^-1/2

    python analyses/rates_classify.py           # full protocol (1280 fits)
    python analyses/rates_classify.py --quick   # 3 sizes up to 1e4, 2 replicates
"""

import bayescmoe
from bayescmoe.cli.rates import protocol_main

if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(protocol_main("classify", __doc__))
