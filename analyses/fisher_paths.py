"""Fisher information at the truth along paths from identified to collapsed.

Per-observation information I(theta*) = E_{X,Y}[s s^T], s the score in the natural parameters,
by Monte Carlo over (X, Y) from the model (the same random numbers at every Delta), for both papers
and for prompts of other families.

P1 (group p1): d = 1, constant gate, linear experts, frozen expert N(y | x, 1)
(bayescmoe.studies.fisher_paths.standard_paths):
  merging    Gaussian f0, lam* = 0.4, prompt = frozen + Delta (1, 1, 1)/sqrt(3) in (a, b, nu)
  heat       the same along the bias only, u = e_b
  vanishing  Student-t(5) f0, prompt (a, b, nu) = (-1, 0.5, 1), lam* = 0.5 Delta
  control    Student-t(5) f0 (distinguishable), the merging moves
Theory. At a merge the gate score (f1 - f0)/p vanishes: e_lam is a null vector. Near it the gate
score is Delta u.grad f / p (a combination of prompt scores) + Delta^2 u^T grad^2 f u / (2p), so the
weakest eigenvalue ~ Delta^4 (the gate rate n^-1/2 / Delta^2) with eigenvector -> e_lam - (Delta/lam) u.
The heat equation d^2 f/d b^2 = 2 d f/d nu makes the second-order term of u = e_b a score too:
there the weakest eigenvalue should fall like Delta^6. The control's spectrum stays bounded; on the
vanishing path the prompt eigenvalues fall like a power of lam* (lam* or lam*^2, see the table).

P2 (group p2): d = 2, gate sigmoid(beta.x + tau), beta* = (1, 1)/sqrt(2), tau* = 1, tanh experts
without bias, frozen tanh(e1.x) with nu0 = 0.1 (P2 has 0.001 in d = 8; bayescmoe.studies.fisher_paths.p2_paths):
  eta        Gaussian f0, prompt eta = e1 (1 + Delta), nu = nu0                      (P2 b-i)
  nu         Gaussian f0, eta = e1, nu = nu0 + Delta                                 (P2 b-ii with eta = e1)
  control    Laplace f0 (distinguishable, P2 a), the eta moves
Theory. At a merge all d + 1 gate scores sigma' g(x) (f1 - f0)/p (g = x_j or 1) vanish: the null
space is the gate subspace (beta, tau). Near it the first-order gate term sigma (1 - sigma) g(x)
Delta u.grad f / p is not a combination of the prompt scores sigma v.grad f / p (the factor
1 - sigma(beta.x + tau) varies with x), so nothing cancels: the d + 1 weakest eigenvalues should
fall like Delta^2 (beta, tau at n^-1/2 / Delta), their eigenvectors spanning the gate subspace
(gate_overlap -> 1), and the prompt eigenvalues stay bounded.
Families (group families): P1's slowed-rate cells, d = 8, constant gate lam* = 0.4, linear experts,
frozen e1.x with variance nu0 = 0.1, prompt = frozen + Delta (s e2, s, nu0)/||.|| with s the family's
scale (bayescmoe.studies.fisher_paths.family_paths, by setting name):
  p1-merging-slow          Gaussian f0 and prompt
  p1-merging-slow-t5       Student-t(5) f0 and prompt
  p1-merging-slow-laplace  Laplace f0 and prompt
  control                  Gaussian f0, Laplace prompt (p1-laplace-prompt's spec), the Gaussian moves
Theory. The Delta^4 argument above needs only a twice-differentiable density: it holds for the
Student-t. A Laplace density has a kink at its mode: the remainder of its first-order expansion is
O(Delta) on an interval of width O(Delta) around the mode, so the weakest eigenvalue should fall
like Delta^3 (gate at n^-1/2 / Delta^(3/2)). The control's spectrum stays bounded.
Classification (groups classify, classify_sigmoid): the cells of analyses/rates_classify.py, C = 3, d = 2,
a multinomial logistic p0, gate lam* = 0.5 or sigmoid(beta.x + tau) with beta* = (1, -0.5), tau* = -0.4
(bayescmoe.studies.fisher_paths.classify_paths):
  merging    linear adapter = p0's (a, b) + Delta (diag(1, 1), (0.5, -0.5))/||.||
  control    tanh adapter (heterogeneous: never equal to p0), the same moves
Theory, by the argument above (not a theorem of the classification paper, whose rates could not be read):
at the merge the gate score (softmax(eta) - p0)/p vanishes; its first-order term is a combination of the
adapter's scores, so the constant gate's weakest eigenvalue should fall like Delta^4, and nothing like the
heat equation makes the second-order term one (it is quadratic in x, the scores linear). Behind a sigmoid
gate, as in P2, the d + 1 gate eigenvalues should fall like Delta^2.
Slopes: log-log least squares on Delta <= 0.1, eigenvalues under 1e-13 x the largest left out.
With the families group, the group families_rates holds what the information at each truth of the
families rate protocol predicts (analyses/rates_families.py): each error group's sd, sqrt of its
block of I(theta*_n)^-1 / n, per n, and its log-log slope on that grid (the mean |error| of a normal
MLE is 0.80 sd for a scalar); with the classification groups, classify_rates and classify_sigmoid_rates
hold the same for their merging cell on the grid of analyses/rates_classify.py (or of --rate-sizes).

    python analyses/fisher_paths.py                # every group, 13 Delta values from 1 to 1e-3, 20000 MC draws
    python analyses/fisher_paths.py --paper p2     # one group (p1, p2, families, classify, classify_sigmoid or all)
    python analyses/fisher_paths.py --quick        # 4 Delta values, 4000 draws
    python analyses/fisher_paths.py --paper classify --rate-sizes 1e12,1e14,5   # the predicted slopes far out

Writes <out>/fisher.nc (a DataTree, one group per paper or group) and <out>/fisher.png (one row each).

Background: docs/science.md, *When learning slows*, *The rates*.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
import xarray as xr

import bayescmoe
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked, sizes
from bayescmoe.diagnostics.fisher import (
    EIGEN_FLOOR,
    cosine,
    gate_basis,
    gate_direction,
    heat_direction,
    subspace_overlap,
    subspace_projection,
)
from bayescmoe.files import atomic_write
from bayescmoe.plots.fisher import plot_eigenvalues
from bayescmoe.studies.fisher_paths import (
    P2_NU0,
    SLOPE_MAX_DELTA,
    FisherPath,
    classify_paths,
    eigen_slopes,
    family_paths,
    p2_paths,
    path_information,
    predicted_sd,
    standard_paths,
)
from bayescmoe.studies.protocols import CLASSIFY_MERGES, get_protocol
from bayescmoe.studies.slopes import loglog_fit

#: the paths of each paper or group (functions of the Delta grid)
PAPERS = {
    "p1": standard_paths,
    "p2": p2_paths,
    "families": family_paths,
    "classify": lambda deltas: classify_paths(deltas, "constant"),
    "classify_sigmoid": lambda deltas: classify_paths(deltas, "sigmoid"),
}


def fisher_dataset(paths: Sequence[FisherPath], deltas: np.ndarray, num_samples: int, seed: int) -> xr.Dataset:
    """information(path, delta, param, param2), its spectrum, slopes, cosines and gate-subspace projections.

    ``paths`` share one spec layout (one paper). ``cos_heat`` is only there when the prompt is linear with bias.
    """
    key = jax.random.PRNGKey(seed)
    fields: dict[str, list] = {k: [] for k in ("information", "eigenvalue", "eigenvector", "slope", "gate_overlap")}
    spec = paths[0].spec
    heat = spec.prompt.mean == "linear" and spec.prompt.bias and not spec.categorical  # b and nu: no nu in a class
    cosines: dict[str, list] = {"cos_gate": [], "gate_projection": [], "cos_direction": []}
    if heat:
        cosines["cos_heat"] = []
    for path in paths:
        infos = path_information(path, key, num_samples)
        gate, basis = gate_direction(path.spec), gate_basis(path.spec)
        drop = basis.sum(axis=1)
        refs = {"cos_gate": (gate, None), "cos_direction": (path.direction, drop)}
        if heat:
            refs["cos_heat"] = (heat_direction(path.spec), drop)
        fields["information"].append([i.matrix for i in infos])
        fields["eigenvalue"].append([i.eigenvalues for i in infos])
        fields["eigenvector"].append([i.eigenvectors for i in infos])
        fields["slope"].append(eigen_slopes(deltas, np.array(fields["eigenvalue"][-1])))
        fields["gate_overlap"].append([subspace_overlap(i.eigenvectors, basis) for i in infos])
        cosines["gate_projection"].append([subspace_projection(i.eigenvectors, basis) for i in infos])
        for name, (ref, dropped) in refs.items():
            cosines[name].append([[cosine(v, ref, dropped) for v in i.eigenvectors.T] for i in infos])
    labels = list(infos[0].labels)
    ranks = np.arange(len(labels))
    ds = xr.Dataset(
        {
            "information": (("path", "delta", "param", "param2"), np.array(fields["information"])),
            "eigenvalue": (("path", "delta", "rank"), np.array(fields["eigenvalue"])),
            "eigenvector": (("path", "delta", "param", "rank"), np.array(fields["eigenvector"])),
            "slope": (("path", "rank"), np.array(fields["slope"])),
            "gate_overlap": (("path", "delta"), np.array(fields["gate_overlap"])),
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
            "gate_dim": int(gate_basis(paths[0].spec).shape[1]),
            "description": "per-observation Fisher information at the truth (Monte Carlo)",
        },
    )
    ds["cos_gate"].attrs["description"] = "|cos| of each eigenvector with e_lam (constant gate) or e_tau (sigmoid)"
    ds["gate_projection"].attrs["description"] = "norm of each eigenvector's projection on the gate coordinates"
    ds["gate_overlap"].attrs["description"] = "||B^T V_k||_F^2 / k: weakest k eigenvectors vs the k gate coordinates"
    ds["cos_direction"].attrs["description"] = "|cos| of each eigenvector's prompt part with the path direction u"
    if heat:
        ds["cos_heat"].attrs["description"] = "|cos| of each eigenvector's prompt part with e_b (heat direction)"
    return ds


#: table columns: (variable, header)
COLUMNS = (
    ("cos_gate", "cos(v, e_gate)"),
    ("gate_projection", "|P_gate v|"),
    ("cos_direction", "cos(v_prompt, u)"),
    ("cos_heat", "cos(v_prompt, e_b)"),
)


def format_table(ds: xr.Dataset, paper: str = "p1") -> str:
    """Markdown: paper, path, rank, slope; eigenvalue, cosines and gate projection of that eigenvector at min Delta."""
    columns = [(k, h) for k, h in COLUMNS if k in ds]
    lines = [
        "| paper | path | eigenvalue rank | slope | eigenvalue at min Delta | "
        + " | ".join(h for _, h in columns)
        + " |",
        "|" + "---|" * (5 + len(columns)),
    ]
    last = ds.isel(delta=int(np.argmin(ds["delta"].values)))
    for path in ds["path"].values:
        for rank in ds["rank"].values:
            at = last.sel(path=path, rank=rank)
            cells = [f"{at[k].item():.3f}" for k, _ in columns]
            slope = ds["slope"].sel(path=path, rank=rank).item()
            lines.append(
                f"| {paper} | {path} | {rank} | {slope:.2f} | {at['eigenvalue'].item():.3g} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def rate_predictions(settings: Sequence[str], n_grid: Sequence[int], num_samples: int, seed: int) -> xr.Dataset:
    """predicted_sd(setting, group, n) and predicted_slope(setting, group): the information's rates on a grid.

    The settings share their error groups (the families protocol's merging cells do).
    """
    key = jax.random.PRNGKey(seed)
    sds = [predicted_sd(name, tuple(n_grid), key, num_samples) for name in settings]
    groups = list(sds[0])
    table = np.array([[sd[g] for g in groups] for sd in sds])
    slopes = np.array([[loglog_fit(np.asarray(n_grid), row)[0] for row in rows] for rows in table])
    ds = xr.Dataset(
        {"predicted_sd": (("setting", "group", "n"), table), "predicted_slope": (("setting", "group"), slopes)},
        coords={"setting": list(settings), "group": groups, "n": list(n_grid)},
        attrs={"num_samples": num_samples},
    )
    ds["predicted_sd"].attrs["description"] = "sqrt of each group's block of I(theta*_n)^-1 / n (Monte Carlo I)"
    return ds


def format_predictions(ds: xr.Dataset) -> str:
    """Markdown: the information's predicted slope per setting and group, and its mean |error| at both ends of n."""
    lo, hi = int(ds["n"].min()), int(ds["n"].max())
    header = f"| setting | group | predicted slope | predicted mean error at n = {lo} | at n = {hi} |"
    lines = [header, "|---|---|---|---|---|"]
    mean_abs = np.sqrt(2 / np.pi)  # E|Z| for Z ~ N(0, 1)
    for setting in ds["setting"].values:
        for group in ds["group"].values:
            sd = ds["predicted_sd"].sel(setting=setting, group=group).values
            slope = ds["predicted_slope"].sel(setting=setting, group=group).item()
            lines.append(f"| {setting} | {group} | {slope:.3f} | {mean_abs * sd[0]:.3g} | {mean_abs * sd[-1]:.3g} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Compute, write ``<out>/fisher.nc`` and ``<out>/fisher.png``, print the slope tables."""
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 Delta values and 4000 Monte Carlo draws")
    parser.add_argument(
        "--paper", choices=(*PAPERS, "all"), default="all", help="paths of P1, P2, the families, the classifiers or all"
    )
    parser.add_argument("--num-samples", type=int, default=None, help="Monte Carlo draws of (X, Y) (default 20000)")
    parser.add_argument(
        "--rate-sizes",
        default=None,
        help="LO,HI,NUM: the classifiers' rate predictions on NUM log-spaced n instead of the rate protocol's grid",
    )
    add_output_arguments(parser, "results/fisher")

    def run() -> None:
        args = parse_checked(parser, argv)
        classify = get_protocol("classify")  # its grid, or --rate-sizes', checked before any work
        grid = (classify.with_grid(*sizes(args.rate_sizes)) if args.rate_sizes else classify).n_grid
        deltas = np.logspace(0, -3, 4 if args.quick else 13)
        num_samples = args.num_samples or (4000 if args.quick else 20000)
        papers = list(PAPERS) if args.paper == "all" else [args.paper]
        start = time.perf_counter()
        sets = {paper: fisher_dataset(PAPERS[paper](deltas), deltas, num_samples, args.seed) for paper in papers}
        groups = dict(sets)
        if "families" in sets:
            protocol = get_protocol("families")
            groups["families_rates"] = rate_predictions(protocol.settings, protocol.n_grid, num_samples, args.seed)
        for paper, cell in (("classify", CLASSIFY_MERGES[0]), ("classify_sigmoid", CLASSIFY_MERGES[1])):
            if paper in sets:
                groups[f"{paper}_rates"] = rate_predictions((cell,), grid, num_samples, args.seed)
        tree = xr.DataTree.from_dict(groups)
        tree.attrs.update({"papers": " ".join(papers), "p2_nu0": P2_NU0})
        out = Path(args.out)
        nc = atomic_write(out / "fisher.nc", lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))
        png = plot_eigenvalues(sets, out / "fisher.png")
        for paper, ds in sets.items():
            print(format_table(ds, paper))
            print()
        for name in (g for g in groups if g.endswith("_rates")):
            print(format_predictions(groups[name]))
            print()
        print(f"{num_samples} Monte Carlo draws, {deltas.size} Delta values, {time.perf_counter() - start:.1f} s")
        print(f"wrote {nc} and {png}")

    return guarded(run)


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    raise SystemExit(main())
