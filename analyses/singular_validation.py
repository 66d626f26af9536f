"""Validation of the learning coefficient and the evidence, printed as three tables.

1. Regular settings: lambda_hat (power t = 1/log n, localised at the MLE reached from the truth) against
   k/2 for p1-family (k = 11) and p2-distinguishable (k = 18) at n = 2000 and 20000.
2. A minimally singular case with a known coefficient (bayescmoe.studies.singular_validation: d = 1,
   prompt N(a x, nu), k = 3): identified prompt -> k/2 = 1.5; prompt = frozen expert, w* on the merged
   line (lam = 0.4) -> (k - 1)/2 = 1; w* near the branch lam -> 0 (start lam = 0.02) -> 1/2.
3. log Z of the k = 3 model by stepping-stone and thermodynamic integration (32-step ladder) against
   3-d quadrature with SciPy densities and the Laplace approximation, identified and merged, n = 200
   and 5000; and p1-family at n = 2000 (no quadrature: k = 11) against Laplace.

    python analyses/singular_validation.py           # about 10 minutes on 2 cores
    python analyses/singular_validation.py --quick   # the k = 3 model only, n = 2000 / 200
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import jax
import numpy as np
import pandas as pd

import bayescmoe as bc
from bayescmoe.cli import OneLineParser, guarded
from bayescmoe.diagnostics.singular import laplace_log_evidence
from bayescmoe.studies.singular import log_evidence
from bayescmoe.studies.singular_validation import (
    MERGED,
    REGULAR,
    SMALL,
    local_learning_coefficient,
    quadrature_box,
    quadrature_log_evidence,
)

SIZES = {"num_warmup": 500, "num_samples": 500, "num_chains": 4}


def coefficient_rows(quick: bool) -> pd.DataFrame:
    """Tables 1 and 2: one row per (case, n); a case's truth may depend on n (a setting's rate)."""
    cases = [
        ("k=3 identified", SMALL, lambda n: REGULAR, None, 1.5),
        ("k=3 merged, w* on the line", SMALL, lambda n: MERGED, None, 1.0),
        ("k=3 merged, w* near lam = 0", SMALL, lambda n: MERGED, {**MERGED, "lam": 0.02}, 0.5),
    ]
    if not quick:
        settings = [bc.get_setting(name) for name in ("p1-family", "p2-distinguishable")]
        cases = [(s.name, s.spec, lambda n, s=s: s.truth.at(s.spec, n), None, None) for s in settings] + cases
    rows = []
    for name, spec, truth_at, start, theory in cases:
        for n in (2000,) if quick else (2000, 20000):
            out = local_learning_coefficient(spec, truth_at(n), n, start=start, **SIZES)
            expected = out["k_half"] if theory is None else theory
            rows.append({"case": name, "theory": expected, **out, "ratio": out["llc"] / expected})
    return pd.DataFrame(rows)


def evidence_rows(quick: bool) -> pd.DataFrame:
    """Table 3: one row per (case, n)."""
    cases = [("k=3 identified", REGULAR), ("k=3 merged", MERGED)]
    rows = []
    for name, truth in cases[:1] if quick else cases:
        for n in (200,) if quick else (200, 5000):
            x, y = (np.asarray(v) for v in bc.simulate(jax.random.PRNGKey(3), SMALL, truth, n))
            exact = quadrature_log_evidence(x, y, *quadrature_box(x, y, **SIZES), points=72)
            rows.append({"case": name, "n": n, "quadrature": exact, **_ladder(SMALL, x, y, truth)})
    if not quick:
        s = bc.get_setting("p1-family")
        x, y = bc.simulate(jax.random.PRNGKey(0), s.spec, s.truth.at(s.spec, 2000), 2000)
        rows.append(
            {"case": "p1-family", "n": 2000, "quadrature": np.nan, **_ladder(s.spec, x, y, s.truth.at(s.spec, 2000))}
        )
    return pd.DataFrame(rows)


def _ladder(spec: bc.ModelSpec, x, y, truth) -> dict[str, float]:
    map_ = bc.fit_map(spec, x, y, init=truth)
    start = time.perf_counter()
    ss, ti, _ = log_evidence(spec, x, y, init=map_.params, key=2, **SIZES)
    return {
        "stepping_stone": ss.value,
        "ss_se": ss.se,
        "thermodynamic": ti.value,
        "ti_se": ti.se,
        "laplace": laplace_log_evidence(map_),
        "ladder_seconds": time.perf_counter() - start,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the three tables."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the k = 3 model only, one n per table")

    def run() -> None:
        args = parser.parse_args(argv)
        start = time.perf_counter()
        pd.set_option("display.width", 200)
        print(coefficient_rows(args.quick).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print()
        print(evidence_rows(args.quick).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"{time.perf_counter() - start:.0f} s")

    return guarded(run)


if __name__ == "__main__":
    bc.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
