"""Real data: a frozen expert pre-trained on one domain, a prompt learned on a shifted one.

Diabetes data (Efron et al. 2004, shipped inside scikit-learn: no download): 442 patients, disease
progression one year after baseline and ten baseline variables. The "pre-trained" domain is one sex
(``--domain 1``: 235 patients): least squares of standardised progression on the nine other
standardised variables gives the frozen model's predictions h0 and its residual variance nu0. The
new domain is the other sex (207 patients): the frozen model is kept as it is, and a prompt that
sees three variables, x = (bmi, blood pressure, s5 = log serum triglycerides), is learned:

    p(y | x) = (1 - lam) N(y | h0, nu0) + lam N(y | a.x + b, nu)

with h0 given per observation (the frozen model's predictions, ``frozen.mean = "given"``) and nu0
too (``frozen.nu = "given"``). The new domain is written as a CSV (x1..x3, y, h0, nu0) and fitted
from it (:func:`bayescmoe.read_data`, then :func:`bayescmoe.fit`: MLE, MAP, NUTS), exactly as
``bayescmoe fit --config models/configs/diabetes-prompt.toml --data <out>/diabetes-domain2.csv``
does; then the collapse report, a posterior predictive check (``az.plot_ppc_dist``,
``az.plot_loo_pit``) and the PSIS-LOO gain of the prompt over the frozen model alone.

    python analyses/real_data.py            # 4 x 1000 draws
    python analyses/real_data.py --quick    # 2 x 200 draws
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

import bayescmoe
from bayescmoe import ModelSpec, collapse_report, fit, read_data, save
from bayescmoe.cli import OneLineParser, add_output_arguments, guarded, parse_checked
from bayescmoe.diagnostics import prompt_gain
from bayescmoe.files import atomic_write
from bayescmoe.plots import plot_loo_pit, plot_pair, plot_ppc, plot_trace
from bayescmoe.results.tables import describe

#: what the pre-trained model sees (every variable but the one that splits the domains) and what the prompt sees
FROZEN_FEATURES = ("age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
FEATURES = ("bmi", "bp", "s5")
FULL = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4}
QUICK = {"num_warmup": 200, "num_samples": 200, "num_chains": 2}
#: the model, shared with ``bayescmoe fit --config``: the frozen expert's mean and variance come with
#: the data (``mean = "given"``, ``nu = "given"``, d = 3 features); a linear Gaussian prompt, constant gate
CONFIG = Path(__file__).resolve().parents[1] / "models" / "configs" / "diabetes-prompt.toml"
NAME = CONFIG.stem
SPEC = ModelSpec.from_file(CONFIG)


def domains(pretrain_sex: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The pre-training and new domains (``frozen``: the frozen model's variables, ``x``: the prompt's,
    ``y``), standardised with the pre-training domain's moments."""
    data = load_diabetes(scaled=False)
    old = data.data[:, data.feature_names.index("sex")] == pretrain_sex
    y = (data.target - data.target[old].mean()) / data.target[old].std()
    out = []
    for rows in (old, ~old):
        part = {"y": y[rows]}
        for key, names in (("frozen", FROZEN_FEATURES), ("x", FEATURES)):
            x = data.data[:, [data.feature_names.index(name) for name in names]]
            part[key] = ((x - x[old].mean(axis=0)) / x[old].std(axis=0))[rows]
        out.append(part)
    return out[0], out[1]


def pretrain(domain: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """Least squares on the pre-training domain: coefficients (slopes, then intercept) and residual variance."""
    design = np.column_stack([domain["frozen"], np.ones(domain["y"].size)])
    coef, *_ = np.linalg.lstsq(design, domain["y"], rcond=None)
    residual = domain["y"] - design @ coef
    return coef, float(residual @ residual / (residual.size - design.shape[1]))


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, h0: np.ndarray, nu0: float) -> Path:
    """The new domain as ``x1..xd, y, h0, nu0``: what ``bayescmoe fit --data`` reads."""
    header = ",".join([*(f"x{j + 1}" for j in range(x.shape[1])), "y", "h0", "nu0"])
    rows = np.column_stack([x, y, h0, np.full(y.size, nu0)])
    lines = [header, *(",".join(f"{v:.17g}" for v in row) for row in rows)]
    return atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))


def run(args: argparse.Namespace) -> None:
    """Pre-train, fit the new domain, report and write the result, the CSV and the figures."""
    start = time.perf_counter()
    old, new = domains(args.domain)
    coef, nu0 = pretrain(old)
    h0 = new["frozen"] @ coef[:-1] + coef[-1]
    print(
        f"pre-trained on sex {args.domain} (n = {old['y'].size}): least squares on {', '.join(FROZEN_FEATURES)}, "
        f"residual variance nu0 = {nu0:.3f}; new domain: sex {3 - args.domain}, n = {new['y'].size}, "
        f"frozen model's mean squared error there {np.mean((new['y'] - h0) ** 2):.3f}"
    )
    out = Path(args.out)
    csv = write_csv(out / f"diabetes-domain{3 - args.domain}.csv", new["x"], new["y"], h0, nu0)
    about = {
        "setting": NAME,
        "description": f"diabetes, frozen expert pre-trained on sex {args.domain}",
        "data_file": str(csv.resolve()),
    }
    dt = fit(SPEC, *read_data(csv, SPEC), key=args.seed, attrs=about, **(QUICK if args.quick else FULL))
    print(describe(dt))
    print(f"\ncollapse report\n{collapse_report(dt).render(parameters=False)}")
    print(f"\nposterior predictive (PSIS-LOO)\n{prompt_gain(dt).render()}")
    written = [
        csv,
        save(dt, out / f"{NAME}.nc"),
        plot_trace(dt, out / f"{NAME}-trace.png"),
        plot_pair(dt, out / f"{NAME}-pair.png"),
        plot_ppc(dt, out / f"{NAME}-ppc.png"),
        plot_loo_pit(dt, out / f"{NAME}-loo-pit.png"),
    ]
    print(f"{time.perf_counter() - start:.1f} s; wrote " + ", ".join(str(p) for p in written))


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_output_arguments(parser, out="results/real-data")
    parser.add_argument("--domain", type=int, choices=(1, 2), default=1, help="the sex of the pre-training domain")
    parser.add_argument("--quick", action="store_true", help="2 chains x 200 draws")
    return guarded(lambda: run(parse_checked(parser, argv)))


if __name__ == "__main__":
    bayescmoe.configure()  # virtual CPU devices for parallel chains, the compilation cache
    sys.exit(main())
