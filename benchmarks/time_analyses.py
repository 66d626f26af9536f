"""Wall time of every collapse analysis at full size, against the 30-minute budget (docs/collapse.md).

    python benchmarks/time_analyses.py                 # all, one after the other (about 30 min)
    python benchmarks/time_analyses.py sbc geometry    # some of them

Each analysis runs in a fresh process with its default (full) size and a temporary --out, as a
user would run it: import, compilation, fits, tables and figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from time_models import time_script

ANALYSES = Path(__file__).parents[1] / "analyses"
#: name -> (script, extra flags)
RUNS = {
    "collapse_paths": ("collapse_paths.py", []),
    "collapse_paths-20000": ("collapse_paths.py", ["--n", "20000"]),
    "geometry": ("geometry.py", []),
    "fisher_paths": ("fisher_paths.py", []),
    "map_vs_nuts": ("map_vs_nuts.py", ["--no-progress"]),
    "contraction": ("contraction.py", ["--no-progress"]),
    "sbc": ("sbc.py", ["--no-progress"]),
}
BUDGET_MINUTES = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help=f"some of {list(RUNS)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.runs) - set(RUNS))
    if unknown:
        parser.error(f"unknown runs {unknown}; choose from {list(RUNS)}")
    print(f"| analysis | wall time (min) | under {BUDGET_MINUTES} min |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.runs or RUNS:
            script, flags = RUNS[name]
            wall, _ = time_script(ANALYSES / script, Path(tmp) / name, flags)
            print(f"| `{script} {' '.join(flags)}` | {wall / 60:.1f} | {wall < 60 * BUDGET_MINUTES} |", flush=True)


if __name__ == "__main__":
    main()
