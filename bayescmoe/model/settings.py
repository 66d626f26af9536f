"""The named settings of both papers: a spec, a (possibly n-dependent) truth and a default size.

P2's settings are those of its experiments; P1's protocol is not public, so its four cells are
ours, in P2's style (d = 8, X ~ N(0, I_8)); the documentation's science page describes both. Two
cells of paper ``ext`` give the prompt another family in the papers' designs; two classify a categorical y
(docs/classification.md), and four more are the cells of its rate protocol.
Settings of one's own come from TOML files with the tables of :meth:`Setting.to_config`::

    name = "my-cell"                       # optional: defaults to the file's stem
    [spec]      gate = "constant"
    [spec.frozen]  family = "student_t"  df = 5.0  mean = "linear"  weight = [1.0, 0.0]  bias = 0.0  nu = 0.1
    [spec.prompt]  mean = "linear"  bias = true  family = "laplace"   # optional: gaussian by default
    [spec.priors]  nu = "flat"  a = ["normal", 0.0, 2.0]
    [truth]     lam = 0.3  a = [-1.0, 1.0]  b = 0.5  nu = 0.1
    [truth.rates.lam]  coef = 0.5  alpha = 0.25   # optional: lam*_n = 0.3 + 0.5 n^-1/4
    [data]      n = 2000  x_dist = "normal"

With a data file (``bayescmoe fit --config SPEC.toml --data DATA``) only ``[spec]`` is read
(:meth:`~bayescmoe.model.spec.ModelSpec.from_file`); a frozen expert given by its predictions is
``mean = "given"  dim = d``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayescmoe.errors import BayescmoeError, require
from bayescmoe.files import read_toml
from bayescmoe.model.families import family_scale
from bayescmoe.model.simulate import X_DISTRIBUTIONS
from bayescmoe.model.spec import FrozenExpert, ModelSpec, PromptExpert, require_tables
from bayescmoe.model.truth import Rate, Truth, merging_prompt, vanishing_weight


@dataclass(frozen=True)
class Setting:
    """A model, its truth and the data-generating defaults of one experiment cell."""

    name: str
    paper: str
    regime: str
    description: str
    spec: ModelSpec
    truth: Truth
    n: int = 2000
    x_dist: str = "normal"
    notes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.x_dist in X_DISTRIBUTIONS, "x_dist", f"must be one of {list(X_DISTRIBUTIONS)}")
        require(isinstance(self.n, int) and self.n > 0, "n", "must be a positive integer")
        self.truth.at(self.spec, self.n)  # validates the truth against the spec

    @classmethod
    def from_config(cls, config: Mapping[str, Any], default_name: str = "custom") -> Setting:
        """Build and validate a setting from its dict form (:meth:`to_config`), naming any malformed field."""
        require_tables(config, ("spec", "truth"))
        data = config.get("data", {})
        require(isinstance(data, Mapping), "data", "must be a table")
        extra = sorted(set(data) - {"n", "x_dist"})
        require(not extra, "data", f"unknown field(s) {extra}; allowed: ['n', 'x_dist']")
        try:
            return cls(
                name=str(config.get("name", default_name)),
                paper=str(config.get("paper", "custom")),
                regime=str(config.get("regime", "custom")),
                description=str(config.get("description", "")),
                spec=ModelSpec.from_config(config["spec"]),
                truth=Truth.from_config(config["truth"]),
                n=data.get("n", 2000),
                x_dist=data.get("x_dist", "normal"),
            )
        except TypeError as err:
            raise BayescmoeError("config", f"malformed entry ({err})") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Setting:
        """A setting (spec, truth and data) from a TOML config; its name defaults to the file's stem."""
        return cls.from_config(read_toml(path), default_name=Path(path).stem)

    def to_config(self) -> dict[str, Any]:
        """TOML/JSON form read back by :meth:`from_config`."""
        return {
            "name": self.name,
            "paper": self.paper,
            "regime": self.regime,
            "description": self.description,
            "spec": self.spec.to_config(),
            "truth": self.truth.to_config(),
            "data": {"n": self.n, "x_dist": self.x_dist},
        }


D = 8
E1, E2 = np.eye(D)[0], np.eye(D)[1]

# P1 (our design): a linear pre-trained expert, a constant gate.
P1_FROZEN = {"mean": "linear", "weight": tuple(E1), "bias": 0.0, "nu": 0.1}
P1_GAUSSIAN = ModelSpec(FrozenExpert("gaussian", **P1_FROZEN))
P1_STUDENT = ModelSpec(FrozenExpert("student_t", df=5.0, **P1_FROZEN))
P1_PROMPT = {"a": -E1 + E2, "b": 0.5, "nu": 0.1}

# P2 (its section 5): tanh experts without bias, d = 8, softmax (sigmoid) gate.
P2_FROZEN = {"mean": "tanh", "weight": tuple(E1), "bias": None, "nu": 0.001}
P2_PROMPT = PromptExpert("tanh", bias=False)
P2_GATE = {"beta": np.ones(D) / np.sqrt(D), "tau": 1.0}
P2_LAPLACE = ModelSpec(FrozenExpert("laplace", **P2_FROZEN), P2_PROMPT, gate="sigmoid")
P2_GAUSSIAN = ModelSpec(FrozenExpert("gaussian", **P2_FROZEN), P2_PROMPT, gate="sigmoid")

# The prompt's other families (docs/guide.md: *The prompt's family*), in the papers' designs; no rate is
# proved for them. A Laplace prompt against P1's Gaussian f0 (distinguishable by family), and P2's (b-i)
# with a Student-t(5) prompt merging into a Student-t(5) f0 (not distinguishable).
P1_LAPLACE_PROMPT = ModelSpec(FrozenExpert("gaussian", **P1_FROZEN), PromptExpert("linear", family="laplace"))
P2_STUDENT = ModelSpec(
    FrozenExpert("student_t", df=5.0, **P2_FROZEN),
    PromptExpert("tanh", bias=False, family="student_t", df=5.0),
    gate="sigmoid",
)

# Several prompts (docs/prompts.md): P1's Gaussian f0 with two linear Gaussian prompts,
# both distinguishable from f0 and from each other; and P1's one-prompt data fitted with K = 2 prompts,
# whose true second prompt has weight 0 (any values of its other parameters give the same data: here
# prompt 0's).
P1_TWO = ModelSpec(FrozenExpert("gaussian", **P1_FROZEN), (PromptExpert(), PromptExpert()))
P1_SECOND_PROMPT = {"a": E1 + E2, "b": -1.0, "nu": 0.05}


# Classification (docs/classification.md): a multinomial logistic frozen classifier, C = 3 classes, d = 2,
# contaminated through a sigmoid gate by an adapter, linear (homogeneous: the frozen structure, so it can merge
# into p0) or tanh (heterogeneous: distinguishable); class 0 is the reference (eta_0 = 0).
C1_FROZEN = FrozenExpert("categorical", weight=((0.0, 0.0), (1.5, -1.0), (-0.5, 1.2)), bias=(0.0, 0.3, -0.2))
C1_TRUTH = {"beta": np.array([1.0, -0.5]), "tau": -0.4, "a": np.array([[-1.0, 2.0], [2.0, 0.5]]), "b": [0.5, -1.0]}


def classifier_spec(mean: str, gate: str = "sigmoid") -> ModelSpec:
    """:data:`C1_FROZEN` with a categorical adapter of activation ``mean`` through a ``gate``."""
    return ModelSpec(C1_FROZEN, PromptExpert(mean, family="categorical", classes=3), gate=gate)


#: the rate cells of docs/classification.md (*Rates: homogeneous against heterogeneous adapters*): the gates,
#: and the direction in which a homogeneous adapter leaves p0 (``merging_prompt``: a* = p0's + n^-1/8 this)
C1_CONSTANT, C1_SIGMOID = {"lam": 0.5}, {k: C1_TRUTH[k] for k in ("beta", "tau")}
C1_MERGE = {"a": np.array([[1.0, 0.0], [0.0, 1.0]]), "b": np.array([0.5, -0.5])}
#: a heterogeneous adapter whose tanh is not saturated for most x (unit rows): C1_TRUTH's slopes (norms about 2.2)
#: leave tanh near +-1 for most x, and its MLE ran off to |a| ~ 1e4 at n = 1e3
C1_DISTINCT = {"a": np.array([[-0.6, 0.8], [0.8, 0.6]]), "b": np.array([0.5, -0.5])}


def classifier_cell(gate: str, homogeneous: bool) -> Setting:
    """A rate cell: a linear adapter merging into p0 at n^-1/8 (homogeneous), or a fixed tanh adapter."""
    spec = classifier_spec("linear" if homogeneous else "tanh", gate)
    gates = C1_CONSTANT if gate == "constant" else C1_SIGMOID
    weight = "lam* = 0.5" if gate == "constant" else "sigmoid gate"
    if homogeneous:
        truth = merging_prompt(spec, gates, 1.0, 1 / 8, C1_MERGE)
        what = f"C = 3, d = 2, {weight}: linear adapter = p0's + n^-1/8 (diag(1, 1), (0.5, -0.5))"
        regime = "classes, homogeneous adapter merging into p0"
    else:
        truth = Truth({**gates, **C1_DISTINCT})
        what = f"C = 3, d = 2, {weight}: adapter eta_c = tanh(a_c.x + b_c), fixed, a* with unit rows"
        regime = "classes, heterogeneous adapter (distinguishable)"
    name = f"classify-{'merging' if homogeneous else 'distinct'}-{gate}"
    return Setting(name, "ext", regime, what, spec, truth, n=10_000)


def two_prompts(lam: tuple[float, float], first: dict, second: dict) -> Truth:
    """The truth of a K = 2 spec from each prompt's parameters (``first``, ``second``) and their weights."""
    stacked = {k: np.stack([np.asarray(first[k], float), np.asarray(second[k], float)]) for k in first}
    return Truth({"lam": np.asarray(lam), **stacked})


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "p1-family",
            "P1",
            "distinguishable by family",
            "Student-t(5) frozen expert, linear experts, constant gate lam* = 0.3",
            P1_STUDENT,
            Truth({"lam": 0.3, **P1_PROMPT}),
        ),
        Setting(
            "p1-structure",
            "P1",
            "distinguishable by structure",
            "Gaussian frozen expert with a linear mean, sigmoid prompt, constant gate lam* = 0.3",
            ModelSpec(FrozenExpert("gaussian", **P1_FROZEN), PromptExpert("sigmoid")),
            Truth({"lam": 0.3, "a": 2.0 * E2, "b": 0.0, "nu": 0.1}),
        ),
        Setting(
            "p1-merging",
            "P1",
            "not distinguishable: merging prompt",
            "Gaussian frozen expert, linear experts, prompt = pre-trained + n^-1/8 (e2, 1, 0.1), lam* = 0.4",
            P1_GAUSSIAN,
            merging_prompt(P1_GAUSSIAN, {"lam": 0.4}, 1.0, 1 / 8, {"a": E2, "b": 1.0, "nu": 0.1}),
        ),
        Setting(
            "p1-vanishing",
            "P1",
            "vanishing prompt weight",
            "the p1-family cell with lam* = 0.5 n^-1/4",
            P1_STUDENT,
            vanishing_weight(P1_PROMPT, 0.5, 1 / 4),
        ),
        Setting(
            "p2-distinguishable",
            "P2",
            "distinguishable (a)",
            "Laplace frozen expert tanh(e1.x), prompt tanh(eta.x) with eta* = -e1, nu* = nu0 = 0.001",
            P2_LAPLACE,
            Truth({**P2_GATE, "a": -E1, "nu": 0.001}),
        ),
        Setting(
            "p2-merging-eta",
            "P2",
            "not distinguishable (b-i)",
            "Gaussian frozen expert, prompt eta* = e1 (1 + n^-1/8), nu* = nu0 = 0.001",
            P2_GAUSSIAN,
            merging_prompt(P2_GAUSSIAN, P2_GATE, 1.0, 1 / 8, {"a": E1}),
        ),
        Setting(
            "p2-merging-nu",
            "P2",
            "not distinguishable (b-ii), as written",
            "Gaussian frozen expert, prompt eta* = -e1, nu* = 0.001 (1 + n^-1/8): Delta* stays about 2",
            P2_GAUSSIAN,
            Truth({**P2_GATE, "a": -E1, "nu": 0.001}, {"nu": Rate(0.001, 1 / 8)}),
        ),
        Setting(
            "p2-merging-nu-e1",
            "P2",
            "not distinguishable (b-ii), eta* = e1",
            "Gaussian frozen expert, prompt eta* = e1, nu* = 0.001 (1 + n^-1/8): the merging reading",
            P2_GAUSSIAN,
            merging_prompt(P2_GAUSSIAN, P2_GATE, 0.001, 1 / 8, {"nu": 1.0}),
        ),
        Setting(
            "p1-laplace-prompt",
            "ext",
            "distinguishable by the prompt's family",
            "Gaussian frozen expert, Laplace prompt, linear experts, constant gate lam* = 0.3",
            P1_LAPLACE_PROMPT,
            Truth({"lam": 0.3, **P1_PROMPT}),
        ),
        Setting(
            "p2-merging-eta-t5",
            "ext",
            "not distinguishable: Student-t prompt and f0",
            "Student-t(5) frozen expert and prompt, prompt eta* = e1 (1 + n^-1/8), nu* = nu0 = 0.001",
            P2_STUDENT,
            merging_prompt(P2_STUDENT, P2_GATE, 1.0, 1 / 8, {"a": E1}),
        ),
        Setting(
            "p1-two-prompts",
            "ext",
            "two distinguishable prompts",
            "Gaussian frozen expert, two linear prompts, lam* = (0.3, 0.2), (a*, b*) = (-e1 + e2, 0.5), (e1 + e2, -1)",
            P1_TWO,
            two_prompts((0.3, 0.2), P1_PROMPT, P1_SECOND_PROMPT),
        ),
        Setting(
            "p1-one-prompt-k2",
            "ext",
            "one real prompt fitted with two",
            "P1's Gaussian f0 with one prompt (lam* = 0.3, a* = -e1 + e2, b* = 0.5, nu* = 0.1), fitted with K = 2",
            P1_TWO,
            two_prompts((0.3, 0.0), P1_PROMPT, P1_PROMPT),
        ),
        Setting(
            "classify-homogeneous",
            "ext",
            "classes, homogeneous adapter (not distinguishable)",
            "C = 3, d = 2: multinomial logistic p0, linear adapter eta_c = a_c.x + b_c, sigmoid gate",
            classifier_spec("linear"),
            Truth(C1_TRUTH),
        ),
        Setting(
            "classify-heterogeneous",
            "ext",
            "classes, heterogeneous adapter (distinguishable)",
            "C = 3, d = 2: multinomial logistic p0, adapter eta_c = tanh(a_c.x + b_c), sigmoid gate",
            classifier_spec("tanh"),
            Truth(C1_TRUTH),
        ),
    )
}


#: P1's frozen variance: the slowed-rate cells move the prompt in units of the frozen expert's noise
P1_NU0 = float(P1_FROZEN["nu"])
P2_NOISY = ModelSpec(FrozenExpert("gaussian", **{**P2_FROZEN, "nu": 0.1}), P2_PROMPT, gate="sigmoid")
#: P1's merging specs by family: f0 and prompt of one family (Student-t with df = 5), linear, with bias
P1_MERGING_SPECS = {
    "gaussian": P1_GAUSSIAN,
    "student_t": ModelSpec(
        FrozenExpert("student_t", df=5.0, **P1_FROZEN), PromptExpert("linear", family="student_t", df=5.0)
    ),
    "laplace": ModelSpec(FrozenExpert("laplace", **P1_FROZEN), PromptExpert("linear", family="laplace")),
}


def noise_move(spec: ModelSpec) -> dict[str, Any]:
    """One noise unit of every prompt parameter: s e2 for a, s for b, nu0 for nu, s the frozen family's scale.

    s = sd = sqrt(nu0) for a Gaussian f0, sqrt(nu0 / 2) for a Laplace one (its location information is
    1 / s^2, as the Gaussian's), sqrt(nu0 (df - 2) / df) for a Student-t one (docs/open-questions.md:
    *Non-Gaussian prompts*); nu moves by nu0, the same relative change of scale in every family.
    """
    f = spec.frozen
    s = family_scale(f.family, f.nu, f.df, f.laplace_reading, sqrt=math.sqrt)
    return {"a": s * E2, "b": s, "nu": f.nu}


def p1_noise_merge(name: str, alpha: float, regime: str, family: str = "gaussian") -> Setting:
    """P1's merging cell of ``family``: the prompt = pre-trained + 0.7 n^-alpha noise units (:func:`noise_move`)."""
    spec = P1_MERGING_SPECS[family]
    move = f"0.7 n^-{'1/8' if alpha == 1 / 8 else '1/4'}"
    kind = {"gaussian": "Gaussian", "student_t": "Student-t(5)", "laplace": "Laplace"}[family]
    description = (
        f"{kind} f0 and prompt, linear experts, lam* = 0.4, prompt = pre-trained + {move} (s e2, s, nu0), "
        f"s = {'sd' if family == 'gaussian' else 'the scale'}"
    )
    truth = merging_prompt(spec, {"lam": 0.4}, 0.7, alpha, noise_move(spec))
    return Setting(name, "P1" if family == "gaussian" else "ext", regime, description, spec, truth, n=10_000)


#: cells of the rate protocols without a models/ script, found by :func:`get_setting` all the same:
#: the slowed-rate cells (README "Convergence rates"; the merging gap is small against the noise, so
#: the local expansion behind the slowed rates holds), which differ from a script's setting only in
#: their truth schedule, and their non-Gaussian twins, which differ from them or from
#: ``p1-laplace-prompt`` only in a family (docs/open-questions.md: *Non-Gaussian prompts*), and the
#: classification rate cells (:func:`classifier_cell`)
PROTOCOL_CELLS: dict[str, Setting] = {
    s.name: s
    for s in (
        p1_noise_merge("p1-merging-slow", 1 / 8, "merging, the gap small against the noise"),
        p1_noise_merge("p1-merging-quarter", 1 / 4, "merging at Delta* ~ n^-1/4: the gate stops converging"),
        Setting(
            "p2-merging-eta-noisy",
            "P2",
            "not distinguishable (b-i), nu0 = nu* = 0.1",
            "P2's (b-i) with nu0 = nu* = 0.1: Gaussian f0 tanh(e1.x), prompt eta* = e1 (1 + n^-1/8)",
            P2_NOISY,
            merging_prompt(P2_NOISY, P2_GATE, 1.0, 1 / 8, {"a": E1}),
            n=10_000,
        ),
        p1_noise_merge("p1-merging-slow-t5", 1 / 8, "merging Student-t(5) prompt and f0, small gap", "student_t"),
        p1_noise_merge("p1-merging-slow-laplace", 1 / 8, "merging Laplace prompt and f0, small gap", "laplace"),
        *(classifier_cell(g, h) for h in (True, False) for g in ("constant", "sigmoid")),
        Setting(
            "p1-t5-prompt",
            "ext",
            "distinguishable by the prompt's family",
            "Gaussian frozen expert, Student-t(5) prompt, linear experts, constant gate lam* = 0.3",
            ModelSpec(FrozenExpert("gaussian", **P1_FROZEN), PromptExpert("linear", family="student_t", df=5.0)),
            Truth({"lam": 0.3, **P1_PROMPT}),
        ),
    )
}


def get_setting(name: str) -> Setting:
    """The named setting (:data:`SETTINGS` or :data:`PROTOCOL_CELLS`); raises with the list of names if unknown."""
    known = {**SETTINGS, **PROTOCOL_CELLS}
    require(name in known, "setting", f"unknown setting {name!r}; choose from {sorted(known)}")
    return known[name]
