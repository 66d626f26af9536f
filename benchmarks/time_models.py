"""Wall time of every models/ script at its default size (the table in the README).

    python benchmarks/time_models.py            # all scripts, one after the other
    python benchmarks/time_models.py p1_family  # some of them

Each script runs in a fresh process (import + compilation + MLE + MAP + NUTS + plots), as a user
would run it; the stage times come from the script's own 'time:' line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

MODELS = Path(__file__).parents[1] / "models"


def time_script(path: Path, out: Path, flags: Sequence[str] = ()) -> tuple[float, str]:
    """Run one script with ``--out out`` and ``flags``; return its wall time and its 'time:' line."""
    start = time.perf_counter()
    command = [sys.executable, str(path), "--out", str(out), *flags]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    stages = next((line.removeprefix("time: ") for line in proc.stdout.splitlines() if line.startswith("time:")), "")
    return wall, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scripts", nargs="*", help="script stems (default: all)")
    args = parser.parse_args()
    paths = [MODELS / f"{s}.py" for s in args.scripts] or sorted(MODELS.glob("*.py"))
    print("| script | wall time (s) | stages |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for path in paths:
            wall, stages = time_script(path, Path(out))
            print(f"| `models/{path.name}` | {wall:.1f} | {stages} |", flush=True)


if __name__ == "__main__":
    main()
