"""Fisher information at the truth along paths from identified to collapsed (PAPERS.md sections 2-3).

Per-observation information I(theta*) = E_{X,Y}[s s^T], s the score in the natural parameters
(a, b, lam, nu), by Monte Carlo over (X, Y) from the model (the same random numbers at every Delta).
d = 1, constant gate (P1), linear experts, frozen expert N(y | x, 1). Paths (bayescmoe.fisher.standard_paths):
  merging    Gaussian f0, lam* = 0.4, prompt = frozen + Delta (1, 1, 1)/sqrt(3)
  heat       the same along the bias only, u = e_b
  vanishing  Student-t(5) f0, prompt (a, b, nu) = (-1, 0.5, 1), lam* = 0.5 Delta
  control    Student-t(5) f0 (distinguishable), the merging moves
Theory. At a merge the gate score (f1 - f0)/p vanishes: e_lam is a null vector. Near it the gate
score is Delta u.grad f / p (a combination of prompt scores) + Delta^2 u^T grad^2 f u / (2p), so the
weakest eigenvalue ~ Delta^4 (the gate rate n^-1/2 / Delta^2) with eigenvector -> e_lam - (Delta/lam) u.
The heat equation d^2 f/d b^2 = 2 d f/d nu makes the second-order term of u = e_b a score too:
there the weakest eigenvalue should fall like Delta^6. The control's spectrum stays bounded; on the
vanishing path the prompt eigenvalues fall like a power of lam* (lam* or lam*^2, see the table).
Slopes: log-log least squares on Delta <= 0.1, eigenvalues under 1e-13 x the largest left out.

    python analyses/fisher_paths.py            # 13 Delta values from 1 to 1e-3, 20000 MC draws
    python analyses/fisher_paths.py --quick    # 4 Delta values, 4000 draws
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from bayescmoe.cli import OneLineParser, guarded
from bayescmoe.files import atomic_write
from bayescmoe.fisher import (
    EIGEN_FLOOR,
    SLOPE_MAX_DELTA,
    cosine,
    eigen_slopes,
    gate_direction,
    heat_direction,
    path_information,
    standard_paths,
)
from bayescmoe.fisher_plots import plot_eigenvalues


def fisher_dataset(deltas: np.ndarray, num_samples: int, seed: int) -> xr.Dataset:
    """information(path, delta, param, param2), its spectrum, slopes and cosines with the reference directions."""
    paths = standard_paths(deltas)
    key = jax.random.PRNGKey(seed)
    fields: dict[str, list] = {k: [] for k in ("information", "eigenvalue", "eigenvector", "slope")}
    cosines: dict[str, list] = {"cos_gate": [], "cos_direction": [], "cos_heat": []}
    for path in paths:
        infos = path_information(path, key, num_samples)
        gate = gate_direction(path.spec)
        refs = {
            "cos_gate": (gate, None),
            "cos_direction": (path.direction, gate),
            "cos_heat": (heat_direction(path.spec), gate),
        }
        fields["information"].append([i.matrix for i in infos])
        fields["eigenvalue"].append([i.eigenvalues for i in infos])
        fields["eigenvector"].append([i.eigenvectors for i in infos])
        fields["slope"].append(eigen_slopes(deltas, np.array(fields["eigenvalue"][-1])))
        for name, (ref, drop) in refs.items():
            cosines[name].append([[cosine(v, ref, drop) for v in i.eigenvectors.T] for i in infos])
    labels = list(infos[0].labels)
    ranks = np.arange(len(labels))
    ds = xr.Dataset(
        {
            "information": (("path", "delta", "param", "param2"), np.array(fields["information"])),
            "eigenvalue": (("path", "delta", "rank"), np.array(fields["eigenvalue"])),
            "eigenvector": (("path", "delta", "param", "rank"), np.array(fields["eigenvector"])),
            "slope": (("path", "rank"), np.array(fields["slope"])),
            **{k: (("path", "delta", "rank"), np.array(v)) for k, v in cosines.items()},
            "delta_label": (
                "path",
                [("Delta (lam* = 0.5 Delta)" if p.name == "vanishing" else "Delta") for p in paths],
            ),
        },
        coords={"path": [p.name for p in paths], "delta": deltas, "param": labels, "param2": labels, "rank": ranks},
        attrs={
            "num_samples": num_samples,
            "seed": seed,
            "slope_max_delta": SLOPE_MAX_DELTA,
            "eigen_floor": EIGEN_FLOOR,
            "description": "per-observation Fisher information at the truth (Monte Carlo), PAPERS.md sections 2-3",
        },
    )
    ds["cos_gate"].attrs["description"] = "|cos| of each eigenvector with e_lam"
    ds["cos_direction"].attrs["description"] = "|cos| of each eigenvector's prompt part with the path direction u"
    ds["cos_heat"].attrs["description"] = "|cos| of each eigenvector's prompt part with e_b (heat direction)"
    return ds


def format_table(ds: xr.Dataset) -> str:
    """Markdown: path | rank | slope | cosines of that eigenvector at the smallest Delta."""
    lines = [
        "| path | eigenvalue rank | slope | eigenvalue at min Delta | cos(v, e_lam) | cos(v_prompt, u) "
        "| cos(v_prompt, e_b) |",
        "|---|---|---|---|---|---|---|",
    ]
    last = ds.isel(delta=int(np.argmin(ds["delta"].values)))
    for path in ds["path"].values:
        for rank in ds["rank"].values:
            at = last.sel(path=path, rank=rank)
            cells = [f"{at[k].item():.3f}" for k in ("cos_gate", "cos_direction", "cos_heat")]
            slope = ds["slope"].sel(path=path, rank=rank).item()
            lines.append(
                f"| {path} | {rank} | {slope:.2f} | {at['eigenvalue'].item():.3g} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Compute, write ``<out>/fisher.nc`` and ``<out>/fisher.png``, print the slope table."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 Delta values and 4000 Monte Carlo draws")
    parser.add_argument("--num-samples", type=int, default=None, help="Monte Carlo draws of (X, Y) (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/fisher", help="output directory")

    def run() -> None:
        args = parser.parse_args(argv)
        deltas = np.logspace(0, -3, 4 if args.quick else 13)
        num_samples = args.num_samples or (4000 if args.quick else 20000)
        start = time.perf_counter()
        ds = fisher_dataset(deltas, num_samples, args.seed)
        out = Path(args.out)
        nc = atomic_write(out / "fisher.nc", lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        png = plot_eigenvalues(ds, out / "fisher.png")
        print(format_table(ds))
        print(f"{num_samples} Monte Carlo draws, {deltas.size} Delta values, {time.perf_counter() - start:.1f} s")
        print(f"wrote {nc} and {png}")

    return guarded(run)


if __name__ == "__main__":
    raise SystemExit(main())
