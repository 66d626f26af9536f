"""What a contaminated mixture of experts is: immutable, validated specs (docs: the science, section 1).

    p(y | x) = w0(x) f0(y | h0(x), nu0) + sum_{k=1..K} w_k(x) g_k(y | h_k(x), nu_k)

with one prompt (K = 1, the papers' model: w(x) = lam, the ``constant`` gate of P1, or
sigmoid(beta.x + tau), the ``sigmoid`` gate of P2, and w0 = 1 - w) or several (docs/prompts.md:
constant weights lam on the simplex, w0 = 1 - sum lam, or a softmax over K + 1
logits with the frozen expert's fixed at 0). The frozen expert (family, h0 and nu0) is fixed; each
prompt g_k (Gaussian by default, or Laplace or Student-t, docs/guide.md: *The prompt's family*) has
its mean parameters a_k (and bias b_k) and variance nu_k trained. Parameters travel as dicts keyed
by :attr:`ModelSpec.param_names`; with K >= 2 prompts each has a leading ``prompt`` axis of length K.
A categorical target (family ``categorical``, docs/classification.md) mixes a frozen classifier p0(c | x)
with an adapter softmax(eta(x)): no variance, eta_0 = 0 and eta_c = act(a_c.x [+ b_c]) for c >= 1.

The **model's inputs** (``inputs`` in every function below :func:`bayescmoe.fit`) are one array of
shape (n, :attr:`ModelSpec.width`): the d features x that the prompt and the gate see, then, when
the frozen expert is a pre-trained model given by its predictions, its mean h0 and variance nu0
per row (:func:`input_columns` names the columns, :func:`model_inputs` builds them); a frozen
classifier given by its predictions has C columns h0, its class probabilities (or logits). Without
given columns the inputs are the features themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from bayescmoe.errors import BayescmoeError, as_floats, require, require_positive_ints
from bayescmoe.files import read_toml
from bayescmoe.model.experts import check_mean
from bayescmoe.model.families import CATEGORICAL, check_classes, check_family
from bayescmoe.model.priors import ORDERED, Prior, default_prior

GATES = ("constant", "sigmoid")
#: another name of the sigmoid gate, natural for K >= 2 prompts (it is stored as "sigmoid")
SOFTMAX = "softmax"
#: parameters whose last axis runs over the d features (the slopes a and beta)
FEATURE_PARAMS = ("a", "beta")
#: parameters an ordering constraint may order (across prompts): ModelSpec(order=...)
ORDERABLE = ("b", "nu", "tau")
#: the top-level fields of a TOML config (:meth:`ModelSpec.from_file`, :meth:`Setting.from_file`)
CONFIG_FIELDS = ("name", "paper", "regime", "description", "spec", "truth", "data")
#: the value of ``frozen.mean`` or ``frozen.nu`` that means "supplied per observation with the data"
GIVEN = "given"
#: given class probabilities of a frozen classifier may miss 1 by this much per row (they are renormalised)
PROBABILITY_TOL = 1e-3


def _finite(value: Any, field_name: str) -> float:
    out = as_floats(value, field_name)
    require(out.ndim == 0, field_name, f"must be a single number, got {value!r}")
    require(bool(np.isfinite(out)), field_name, "must be finite")
    return float(out)


@dataclass(frozen=True)
class FrozenExpert:
    """The pre-trained expert f0(y | h0(x), nu0): fully known, never trained.

    Its mean is h0(x) = act(weight.x [+ bias]) (``bias=None``, the default and what an absent
    ``bias`` in a config means, is no inner bias; ``weight=None`` is (1.0,)), or, with
    ``mean="given"``, the predictions of any pre-trained model supplied per observation with the
    data (``dim`` then says how many features x the prompt and the gate see). ``nu="given"``
    supplies the variance nu0 per observation too (``nu=None``, the default, is 1.0). Given columns
    follow the d features in the model's inputs (:func:`model_inputs`).

    A frozen classifier (``family="categorical"``, docs/classification.md) over ``classes`` = C >= 2
    classes has no variance. Parametric, it is multinomial logistic: ``weight`` of shape (C, d) (nested
    sequences), ``bias`` of shape (C,) or None, p0 = softmax(x @ weight.T + bias). Given, its C class
    probabilities per row are the columns ``h0`` (``logits=True``: its logits instead).
    """

    family: str = "gaussian"
    mean: str = "linear"
    weight: Any = None
    bias: Any = None
    nu: float | str | None = None
    df: float | None = None
    laplace_reading: str = "variance"
    dim: int | None = None
    classes: int | None = None
    logits: bool = False

    def __post_init__(self) -> None:
        check_family(self.family, self.df, self.laplace_reading, "frozen")
        if self.family == CATEGORICAL:
            self._check_classifier()
            return
        require(self.classes is None, "frozen.classes", f"applies only to a categorical expert, not {self.family}")
        require(self.logits is False, "frozen.logits", f"applies only to a categorical expert, not {self.family}")
        if self.nu is None:
            object.__setattr__(self, "nu", 1.0)
        if self.mean == GIVEN:
            require(self.weight is None, "frozen.weight", "a frozen expert given by its predictions has no weight")
            require(self.bias is None, "frozen.bias", "a frozen expert given by its predictions has no bias")
            require_positive_ints(**{"frozen.dim": self.dim})
        else:
            check_mean(self.mean, "frozen.mean")
            weight = np.atleast_1d(as_floats((1.0,) if self.weight is None else self.weight, "frozen.weight"))
            require(weight.ndim == 1 and weight.size > 0, "frozen.weight", "must be a non-empty vector")
            require(bool(np.all(np.isfinite(weight))), "frozen.weight", "must be finite")
            require(
                self.dim is None or self.dim == weight.size,
                "frozen.dim",
                f"is {self.dim} but frozen.weight has {weight.size} entries",
            )
            object.__setattr__(self, "weight", tuple(float(v) for v in weight))
            object.__setattr__(self, "dim", weight.size)
        if self.bias is not None:
            object.__setattr__(self, "bias", _finite(self.bias, "frozen.bias"))
        if self.df is not None:
            object.__setattr__(self, "df", float(self.df))
        if self.nu != GIVEN:
            nu = _finite(self.nu, "frozen.nu")
            require(nu > 0, "frozen.nu", f"variance must be positive, got {nu}")
            object.__setattr__(self, "nu", nu)

    def _check_classifier(self) -> None:
        """Validate a frozen classifier (family ``categorical``): classes, no variance, its weights or given columns."""
        require(self.nu is None, "frozen.nu", "a categorical expert has no variance: leave nu out")
        require(isinstance(self.logits, bool), "frozen.logits", "must be true or false")
        if self.mean == GIVEN:
            require(self.weight is None, "frozen.weight", "a frozen expert given by its predictions has no weight")
            require(self.bias is None, "frozen.bias", "a frozen expert given by its predictions has no bias")
            require_positive_ints(**{"frozen.dim": self.dim})
            check_classes(self.classes, "frozen.classes")
            return
        require(self.logits is False, "frozen.logits", "applies only to a classifier given by its predictions")
        require(
            self.mean == "linear",
            "frozen.mean",
            f"a parametric frozen classifier is multinomial logistic: 'linear' (or 'given'), got {self.mean!r}",
        )
        require(self.weight is not None, "frozen.weight", "required: the (C, d) weights of the frozen classifier")
        weight = as_floats(self.weight, "frozen.weight")
        require(weight.ndim == 2 and weight.size > 0, "frozen.weight", f"must be a (C, d) matrix, got {weight.shape}")
        require(bool(np.all(np.isfinite(weight))), "frozen.weight", "must be finite")
        classes = weight.shape[0] if self.classes is None else self.classes
        check_classes(classes, "frozen.classes")
        rows = weight.shape[0]
        require(classes == rows, "frozen.classes", f"is {classes} but frozen.weight has {rows} rows")
        require(
            self.dim is None or self.dim == weight.shape[1],
            "frozen.dim",
            f"is {self.dim} but frozen.weight has {weight.shape[1]} columns",
        )
        if self.bias is not None:
            bias = as_floats(self.bias, "frozen.bias")
            require(bias.shape == (classes,), "frozen.bias", f"must have C = {classes} entries, got shape {bias.shape}")
            require(bool(np.all(np.isfinite(bias))), "frozen.bias", "must be finite")
            object.__setattr__(self, "bias", tuple(float(v) for v in bias))
        object.__setattr__(self, "weight", tuple(tuple(float(v) for v in row) for row in weight))
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "dim", weight.shape[1])

    @property
    def given(self) -> tuple[str, ...]:
        """Names of the per-observation columns this expert needs: ``h0`` and/or ``nu0``."""
        return tuple(name for name, field_value in (("h0", self.mean), ("nu0", self.nu)) if field_value == GIVEN)

    def given_width(self, name: str) -> int:
        """Columns of given ``name`` in the model's inputs: C for a classifier's h0, else 1."""
        return self.classes if name == "h0" and self.family == CATEGORICAL else 1

    def params(self) -> dict[str, np.ndarray]:
        """The frozen expert's mean parameters and variance, keyed like the prompt's.

        A frozen classifier's, in the adapter's parametrisation (class 0 the reference): a = W[1:] - W[0],
        b = bias[1:] - bias[0]; no variance."""
        require(not self.given, "frozen", f"has no parameters: {', '.join(self.given)} given per observation")
        if self.family == CATEGORICAL:
            weight = np.asarray(self.weight)
            out = {"a": weight[1:] - weight[0]}
            if self.bias is not None:
                bias = np.asarray(self.bias)
                out["b"] = bias[1:] - bias[0]
            return out
        out = {"a": np.asarray(self.weight), "nu": np.asarray(self.nu)}
        if self.bias is not None:
            out["b"] = np.asarray(self.bias)
        return out


@dataclass(frozen=True)
class PromptExpert:
    """The trainable prompt g(y | act(a.x [+ b]), nu) (docs/guide.md: *The prompt's family*).

    ``family`` is one of the frozen expert's (gaussian, the default, laplace or student_t with a
    fixed ``df`` > 2), and nu is always its variance (the prompt has no Laplace "scale" reading).
    A ``categorical`` adapter over ``classes`` = C classes has logits eta_0 = 0 and
    eta_c = act(a_c.x [+ b_c]), c = 1..C-1, and no nu (docs/classification.md).
    """

    mean: str = "linear"
    bias: bool = True
    family: str = "gaussian"
    df: float | None = None
    classes: int | None = None

    def __post_init__(self) -> None:
        check_mean(self.mean, "prompt.mean")
        require(isinstance(self.bias, bool), "prompt.bias", "must be true or false")
        check_family(self.family, self.df, "variance", "prompt")
        if self.family == CATEGORICAL:
            check_classes(self.classes, "prompt.classes")
        else:
            require(self.classes is None, "prompt.classes", f"applies only to a categorical prompt, not {self.family}")
        if self.df is not None:
            object.__setattr__(self, "df", float(self.df))


@dataclass(frozen=True)
class ModelSpec:
    """A contaminated MoE: gate kind, frozen expert, prompt expert(s) and a prior per parameter.

    ``prompt`` is one :class:`PromptExpert` or a sequence of K of them (docs/prompts.md); a sequence of one is
    stored as that prompt, K >= 2 as a tuple. The prompts of K >= 2 share ``bias`` (true or false); each has its
    own mean structure and family. ``gate`` is ``constant`` or ``sigmoid`` (``softmax``, its name for K >= 2, is
    accepted and stored as ``sigmoid``). ``order`` (K >= 2 only) names a parameter of :data:`ORDERABLE` held
    increasing across prompts, which removes label switching among prompts of one structure.

    ``priors`` may name any subset of the parameters (missing ones get defaults) or be the string
    ``"flat"`` for flat priors on all of them; it is stored complete, as sorted pairs.
    """

    frozen: FrozenExpert
    prompt: Any = field(default_factory=PromptExpert)
    gate: str = "constant"
    priors: Any = ()
    order: str | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.frozen, FrozenExpert), "frozen", "must be a FrozenExpert")
        prompts = self.prompt if isinstance(self.prompt, (list, tuple)) else (self.prompt,)
        require(
            len(prompts) > 0,
            "prompt",
            "needs at least one prompt (the frozen expert alone is bayescmoe.frozen_baseline's model)",
        )
        for k, p in enumerate(prompts):
            where = "prompt" if len(prompts) == 1 else f"prompt[{k}]"
            require(isinstance(p, PromptExpert), where, f"must be a PromptExpert, got {type(p).__name__}")
            require(
                p.bias == prompts[0].bias,
                f"{where}.bias",
                f"the prompts must all have a bias or all not (prompt[0].bias = {prompts[0].bias})",
            )
        object.__setattr__(self, "prompt", prompts[0] if len(prompts) == 1 else tuple(prompts))
        if self.categorical or any(p.family == CATEGORICAL for p in prompts):
            self._check_classifier()
        if self.gate == SOFTMAX:
            object.__setattr__(self, "gate", "sigmoid")
        require(self.gate in GATES, "gate", f"unknown gate {self.gate!r}; choose from {[*GATES, SOFTMAX]}")
        if self.order is not None:
            require(self.num_prompts > 1, "order", "orders parameters across prompts: it needs K >= 2 prompts")
            require(
                self.order in self.param_names and self.order in ORDERABLE,
                "order",
                f"can order one of {[n for n in ORDERABLE if n in self.param_names]}, got {self.order!r}",
            )
        if isinstance(self.priors, str):
            require(self.priors == "flat", "priors", "the only named prior set is 'flat'")
            given: dict[str, Any] = {name: "flat" for name in self.param_names}
        else:
            given = dict(self.priors)
        unknown = sorted(set(given) - set(self.param_names))
        require(not unknown, "priors", f"unknown parameter(s) {unknown}; parameters are {list(self.param_names)}")
        require(
            self.frozen.nu != GIVEN or "nu" in given,
            "priors.nu",
            "must be given when frozen.nu is given per observation (the default prior's scale is the frozen variance)",
        )
        resolved = {}
        for name in self.param_names:
            prior = (
                Prior.from_config(given[name], f"priors.{name}")
                if name in given
                else default_prior(self.support(name), self.frozen.nu)
            )
            prior.check(self.support(name), f"priors.{name}", self.shape(name))
            resolved[name] = prior
        object.__setattr__(self, "priors", tuple(sorted(resolved.items())))

    def _check_classifier(self) -> None:
        """A categorical expert mixes only with categorical experts of as many classes; K >= 2 adapters may be
        ordered by their gate's tau only (their b holds one bias per class)."""
        f = self.frozen
        for k, p in enumerate(self.prompts):
            where = "prompt" if self.num_prompts == 1 else f"prompt[{k}]"
            require(
                p.family == CATEGORICAL and f.family == CATEGORICAL,
                f"{where}.family",
                f"a categorical expert mixes only with categorical ones: frozen.family = {f.family!r}, "
                f"{where}.family = {p.family!r}",
            )
            require(
                p.classes == f.classes,
                f"{where}.classes",
                f"is {p.classes} but frozen.classes is {f.classes}: the experts must share the classes",
            )
        require(
            self.order in (None, "tau"),
            "order",
            f"K >= 2 categorical adapters can be ordered by the gate's tau only, got {self.order!r}",
        )

    @property
    def categorical(self) -> bool:
        """Whether y is a class 0..C-1 (family ``categorical``, docs/classification.md)."""
        return self.frozen.family == CATEGORICAL

    @property
    def classes(self) -> int | None:
        """C, the number of classes of a categorical model; None for a real y."""
        return self.frozen.classes

    @property
    def prompts(self) -> tuple[PromptExpert, ...]:
        """The K prompts, in order (one for the papers' model)."""
        return self.prompt if isinstance(self.prompt, tuple) else (self.prompt,)

    @property
    def num_prompts(self) -> int:
        """K, the number of prompts."""
        return len(self.prompts)

    def with_prompts(self, k: int) -> ModelSpec:
        """A copy with K = ``k`` prompts, each like the first. The priors are kept, but for the weights' when
        K changes: a flat or symmetric Dirichlet prior (one concentration) is kept, any other reset to the default."""
        require_positive_ints(prompts=k)
        fits = lambda p: p.family == "flat" or (p.family == "dirichlet" and len(p.args) == 1)  # noqa: E731
        priors = {n: p for n, p in self.priors if n != "lam" or k == self.num_prompts or fits(p)}
        return replace(self, prompt=(self.prompts[0],) * k, priors=priors, order=self.order if k > 1 else None)

    @property
    def dim(self) -> int:
        """Dimension d of the features x that the prompt and the gate see."""
        return self.frozen.dim

    @property
    def width(self) -> int:
        """Columns of the model's inputs: the d features, then the frozen expert's given columns."""
        return self.dim + sum(self.frozen.given_width(name) for name in self.frozen.given)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Trainable parameters: gate (lam, or beta and tau), then prompt (a, [b], nu).

        A categorical adapter's (a, [b]) come first, and it has no nu: a group of ArviZ whose first variable has
        ``feature`` but not ``class`` (beta) labels a's scalars in ``az.summary`` as if transposed (its stacking
        follows the group's order of dimensions, its labels each variable's)."""
        gate = ("lam",) if self.gate == "constant" else ("beta", "tau")
        prompt = ("a", "b") if self.prompts[0].bias else ("a",)
        return prompt + gate if self.categorical else gate + prompt + ("nu",)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of parameter ``name``: (d,) for the vectors a and beta, () otherwise; K >= 2 prompts add a
        leading axis of length K. A categorical adapter's a is (C - 1, d) and its b (C - 1,): one row per
        class but the reference class 0."""
        lead = (self.num_prompts,) if self.num_prompts > 1 else ()
        if self.categorical and name in ("a", "b"):
            lead = (*lead, self.classes - 1)
        return lead + ((self.dim,) if name in FEATURE_PARAMS else ())

    def support(self, name: str) -> str:
        """Natural constraint of a parameter (:data:`~bayescmoe.model.priors.SUPPORTS`): 'unit' (lam; 'simplex'
        for K >= 2 prompts), 'positive' (nu) or 'real', made 'ordered' / 'positive_ordered' by :attr:`order`."""
        if name == "lam" and self.num_prompts > 1:
            return "simplex"
        support = {"lam": "unit", "nu": "positive"}.get(name, "real")
        if name == self.order:
            return "ordered" if support == "real" else "positive_ordered"
        return support

    def prior(self, name: str) -> Prior:
        """The prior of parameter ``name``."""
        return dict(self.priors)[name]

    def with_priors(self, priors: Mapping[str, Any] | str) -> ModelSpec:
        """A copy with the given priors (``"flat"`` for the MLE); unnamed ones get defaults."""
        return replace(self, priors=priors)

    @property
    def same_structure(self) -> bool:
        """Whether prompt and frozen mean functions coincide (mean and bias): the prompt's mean can be h0
        (for K >= 2: some prompt's).

        False for a frozen expert given by its predictions: whether a prompt can equal h0 is then a
        property of the data, not of the spec. Merging needs :attr:`same_family` too.
        """
        return any(self._same_structure(p) for p in self.prompts)

    @property
    def same_family(self) -> bool:
        """Whether prompt and frozen expert are of one family (and one df): the prompt's density can be f0's
        (for K >= 2: some prompt's)."""
        return any(self._same_family(p) for p in self.prompts)

    def _same_structure(self, p: PromptExpert) -> bool:
        return p.mean == self.frozen.mean and p.bias == (self.frozen.bias is not None)

    def _same_family(self, p: PromptExpert) -> bool:
        return p.family == self.frozen.family and p.df == self.frozen.df

    def mergeable(self) -> tuple[bool, ...]:
        """Per prompt: whether it can equal f0 (f0's family, df and mean structure), i.e. merge into it."""
        return tuple(self._same_structure(p) and self._same_family(p) for p in self.prompts)

    @property
    def distinguishable(self) -> bool:
        """P2 Definition 1 with P1's structure condition: False iff f0 is of the prompt's family and structure.

        The papers define it for a Gaussian prompt: a Gaussian f0 of the prompt's structure is the one
        case where the prompt can merge into f0. For a prompt of family g (docs/guide.md: *The
        prompt's family*) the package takes the analogue: not distinguishable iff f0 is of family g
        (the same df for Student-t) with the prompt's mean structure; then and only then can the
        prompt equal f0, so a prompt of another family never merges. No rate is proved for it.
        """
        return not (self.same_family and self.same_structure)

    def formula(self) -> str:
        """The model in one line, then its priors: what a script or a result's table shows of it."""
        f = self.frozen
        if self.categorical:
            return self._classifier_formula()
        if f.mean == GIVEN:
            h0 = "h0(x)"
        else:
            h0 = _linear_form(f.weight, f.bias)
            h0 = h0 if f.mean == "linear" else f"{f.mean}({h0})"
        nu0 = "nu0(x)" if f.nu == GIVEN else f"{f.nu:g}"
        priors = ", ".join(
            f"{name} ~ {prior.family}" + (f"({', '.join(f'{a:g}' for a in prior.args)})" if prior.args else "")
            for name, prior in self.priors
        )
        order = f", {self.order} increasing across prompts" if self.order else ""
        frozen = _family_symbol(f.family, f.df)
        if self.num_prompts == 1:
            h = "a.x" + (" + b" if self.prompt.bias else "")
            h = h if self.prompt.mean == "linear" else f"{self.prompt.mean}({h})"
            w, one_minus = ("lam", "(1 - lam)") if self.gate == "constant" else ("w(x)", "(1 - w(x))")
            gate = "" if self.gate == "constant" else ", w(x) = sigmoid(beta.x + tau)"
            prompt = _family_symbol(self.prompt.family, self.prompt.df)
            model = f"p(y | x) = {one_minus} {frozen}(y | {h0}, {nu0}) + {w} {prompt}(y | {h}, nu){gate}"
            return f"{model}\npriors: {priors}"
        terms = []
        for k, p in enumerate(self.prompts):
            h = f"a[{k}].x" + (f" + b[{k}]" if p.bias else "")
            h = h if p.mean == "linear" else f"{p.mean}({h})"
            w = f"lam[{k}]" if self.gate == "constant" else f"w[{k}](x)"
            terms.append(f"{w} {_family_symbol(p.family, p.df)}(y | {h}, nu[{k}])")
        if self.gate == "constant":
            w0, gate = "(1 - sum lam)", ""
        else:
            w0, gate = "w0(x)", ", (w0, w[k])(x) = softmax(0, beta[k].x + tau[k])"
        return f"p(y | x) = {w0} {frozen}(y | {h0}, {nu0}) + {' + '.join(terms)}{gate}{order}\npriors: {priors}"

    def _classifier_formula(self) -> str:
        """:meth:`formula` of a categorical model."""
        f = self.frozen
        if f.mean == GIVEN:
            p0 = "softmax(h0(x))" if f.logits else "h0(x)"
        else:
            p0 = "softmax(W x" + (" + c)" if f.bias is not None else ")")
        priors = ", ".join(
            f"{name} ~ {prior.family}" + (f"({', '.join(f'{a:g}' for a in prior.args)})" if prior.args else "")
            for name, prior in self.priors
        )
        classes = f"c = 0..{self.classes - 1}, p0 = {p0}"
        if self.num_prompts == 1:
            p = self.prompt
            eta = "a_c.x" + (" + b_c" if p.bias else "")
            eta = eta if p.mean == "linear" else f"{p.mean}({eta})"
            w, one_minus = ("lam", "(1 - lam)") if self.gate == "constant" else ("w(x)", "(1 - w(x))")
            gate = "" if self.gate == "constant" else ", w(x) = sigmoid(beta.x + tau)"
            model = f"p(y = c | x) = {one_minus} p0(c | x) + {w} softmax(eta(x))_c, {classes}, eta_0 = 0, eta_c = {eta}"
            return f"{model}{gate}\npriors: {priors}"
        terms, etas = [], []
        for k, p in enumerate(self.prompts):
            eta = f"a[{k}]_c.x" + (f" + b[{k}]_c" if p.bias else "")
            etas.append(f"eta[{k}]_c = {eta if p.mean == 'linear' else f'{p.mean}({eta})'}")
            terms.append(f"{f'lam[{k}]' if self.gate == 'constant' else f'w[{k}](x)'} softmax(eta[{k}](x))_c")
        if self.gate == "constant":
            w0, gate = "(1 - sum lam)", ""
        else:
            w0, gate = "w0(x)", ", (w0, w[k])(x) = softmax(0, beta[k].x + tau[k])"
        order = f", {self.order} increasing across prompts" if self.order else ""
        model = f"p(y = c | x) = {w0} p0(c | x) + {' + '.join(terms)}, {classes}, eta[k]_0 = 0, {', '.join(etas)}"
        return f"{model}{gate}{order}\npriors: {priors}"

    def to_config(self) -> dict[str, Any]:
        """Plain dict (TOML/JSON form) that :meth:`from_config` reads back."""
        frozen = {k: v for k, v in vars(self.frozen).items() if v is not None and not (k == "logits" and v is False)}
        if self.frozen.mean != GIVEN:
            weight = self.frozen.weight
            frozen["weight"] = [list(row) for row in weight] if self.categorical else list(weight)
            frozen |= {"bias": list(self.frozen.bias)} if self.categorical and self.frozen.bias else {}
            del frozen["dim"]
        prompts = [{k: v for k, v in vars(p).items() if v is not None} for p in self.prompts]
        out = {
            "gate": self.gate,
            "frozen": frozen,
            "prompt": prompts[0] if len(prompts) == 1 else prompts,
            "priors": {name: prior.to_config() for name, prior in self.priors},
        }
        return out if self.order is None else {**out, "order": self.order}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from its dict form, naming the field of any malformed entry."""
        require(isinstance(config, Mapping), "spec", "must be a table")
        unknown = sorted(set(config) - {"gate", "frozen", "prompt", "priors", "order"})
        require(not unknown, "spec", f"unknown field(s) {unknown}")
        require("frozen" in config, "frozen", "missing: the pre-trained expert must be described")
        frozen = _from_table(FrozenExpert, config["frozen"], "frozen")
        prompt = config.get("prompt", {})
        if isinstance(prompt, (list, tuple)):  # [[spec.prompt]] tables: K prompts
            prompt = [_from_table(PromptExpert, table, f"prompt[{k}]") for k, table in enumerate(prompt)]
        else:
            prompt = _from_table(PromptExpert, prompt, "prompt")
        priors = config.get("priors", ())
        require(isinstance(priors, (Mapping, str, tuple)), "priors", "must be a table or 'flat'")
        return cls(frozen, prompt, config.get("gate", "constant"), priors, config.get("order"))

    @classmethod
    def from_file(cls, path: str | Path) -> ModelSpec:
        """The spec of a TOML config (its ``[spec]`` table; ``[truth]`` and ``[data]`` are not read)."""
        config = read_toml(path)
        require_tables(config, ("spec",))
        try:
            return cls.from_config(config["spec"])
        except TypeError as err:
            raise BayescmoeError("config", f"malformed entry ({err})") from None


def _from_table(kind: type, table: Any, name: str) -> Any:
    """A FrozenExpert or PromptExpert from its config table, naming ``name`` for a malformed one."""
    require(isinstance(table, Mapping), name, "must be a table")
    allowed = set(kind.__dataclass_fields__)
    extra = sorted(set(table) - allowed)
    require(not extra, name, f"unknown field(s) {extra}; allowed: {sorted(allowed)}")
    return kind(**table)


def _family_symbol(family: str, df: float | None) -> str:
    """How :meth:`ModelSpec.formula` writes a family: N, Laplace or t_df."""
    return {"gaussian": "N", "laplace": "Laplace"}.get(family) or f"t_{df:g}"


def _linear_form(weight: tuple[float, ...], bias: float | None) -> str:
    """``weight.x + bias`` written out: ``x1 - 0.5 x2 + 1``."""
    terms = [(w, f"{abs(w):g} x{j + 1}" if abs(w) != 1 else f"x{j + 1}") for j, w in enumerate(weight) if w != 0]
    terms += [(bias, f"{abs(bias):g}")] if bias else []
    text = " ".join(f"{'-' if value < 0 else '+'} {term}" for value, term in terms)
    return (text[2:] if text.startswith("+") else "-" + text[2:]) if text else "0"


def require_tables(config: Mapping[str, Any], sections: tuple[str, ...]) -> None:
    """A config is a table of the :data:`CONFIG_FIELDS` that has every one of ``sections``."""
    require(isinstance(config, Mapping), "config", "must be a table")
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    require(not unknown, "config", f"unknown field(s) {unknown}; allowed: {sorted(CONFIG_FIELDS)}")
    for section in sections:
        require(section in config, section, f"missing [{section}] table")


def check_params(spec: ModelSpec, params: Mapping[str, Any], field_name: str = "params") -> dict[str, np.ndarray]:
    """Validate a parameter dict against ``spec``: names, shapes, finiteness, lam in [0, 1], nu > 0."""
    require(isinstance(params, Mapping), field_name, "must be a mapping of parameter name to value")
    missing = sorted(set(spec.param_names) - set(params))
    extra = sorted(set(params) - set(spec.param_names))
    require(not missing, field_name, f"missing parameter(s) {missing}")
    require(not extra, field_name, f"unknown parameter(s) {extra}; parameters are {list(spec.param_names)}")
    out = {}
    for name in spec.param_names:
        where = f"{field_name}.{name}"
        value = as_floats(params[name], where)
        shape = spec.shape(name)
        origin = [f"d = {spec.dim}, the length of frozen.weight"] if name in FEATURE_PARAMS else []
        if spec.categorical and name in ("a", "b"):
            origin = [f"C - 1 = {spec.classes - 1} classes besides the reference class 0", *origin]
        origin = ([f"K = {spec.num_prompts} prompts"] if spec.num_prompts > 1 else []) + origin
        origin = f" ({'; '.join(origin)})" if origin else ""
        require(value.shape == shape, where, f"must have shape {shape}{origin}, got {value.shape}")
        require(bool(np.all(np.isfinite(value))), where, "must be finite (no NaN or inf)")
        support = spec.support(name)
        if support == "unit":
            require(0.0 <= float(value) <= 1.0, where, f"weight must lie in [0, 1], got {float(value)}")
        if support == "simplex":
            ok = bool(np.all(value >= 0)) and float(np.sum(value)) <= 1.0
            require(ok, where, f"weights must be >= 0 with sum <= 1 (w0 = 1 - sum), got {value.tolist()}")
        if name == "nu":
            require(bool(np.all(value > 0.0)), where, f"variance must be positive, got {value.tolist()}")
        if support in ORDERED:
            ok = bool(np.all(np.diff(value) > 0))
            require(ok, where, f"must increase across prompts (spec.order = {name!r}), got {value.tolist()}")
        out[name] = value
    return out


def given_columns(spec: ModelSpec) -> tuple[str, ...]:
    """Names of the frozen expert's given columns: h0 and/or nu0, or a frozen classifier's h0_0..h0_{C-1}."""
    f = spec.frozen
    return tuple(
        name if f.given_width(name) == 1 else f"{name}_{c}" for name in f.given for c in range(f.given_width(name))
    )


def input_columns(spec: ModelSpec) -> tuple[str, ...]:
    """Names of the model's input columns: x1..xd, then the frozen expert's given columns (:func:`given_columns`)."""
    return tuple(f"x{j + 1}" for j in range(spec.dim)) + given_columns(spec)


def check_classes_data(spec: ModelSpec, inputs: np.ndarray, y: np.ndarray) -> None:
    """A categorical model's data: y holds class codes 0..C-1, and given class probabilities are >= 0 and sum to 1
    (within :data:`PROBABILITY_TOL`) per row. Errors name the first bad row, counting from 0."""
    classes = spec.classes
    bad = np.flatnonzero((y != np.round(y)) | (y < 0) | (y > classes - 1))
    if bad.size:
        raise BayescmoeError("y", f"must hold class codes 0..{classes - 1}; row {bad[0]} (from 0) holds {y[bad[0]]:g}")
    f = spec.frozen
    if f.mean != GIVEN or f.logits:
        return
    p0 = inputs[:, spec.dim : spec.dim + classes]
    negative = np.flatnonzero(np.any(p0 < 0, axis=1))
    if negative.size:
        raise BayescmoeError("h0", f"class probabilities must be >= 0; row {negative[0]} (from 0) has a negative one")
    off = np.flatnonzero(np.abs(p0.sum(axis=1) - 1.0) > PROBABILITY_TOL)
    if off.size:
        raise BayescmoeError(
            "h0",
            f"class probabilities must sum to 1 per row (within {PROBABILITY_TOL:g}); row {off[0]} (from 0) sums to "
            f"{p0[off[0]].sum():.6g} (logits? set frozen.logits = true)",
        )


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def encode_classes(
    spec: ModelSpec, y: Any, labels: Sequence[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """(codes, labels) of a categorical target: y of class codes 0..C-1 passes through (with ``labels``, their names,
    if given); y of labels (strings) becomes codes, labels ``labels`` or else its C distinct values, sorted (as
    numbers when they all are: "2" before "10")."""
    values = np.asarray(y)
    if labels is not None:
        labels = tuple(str(v) for v in labels)
        require(len(labels) == spec.classes, "class_labels", f"needs C = {spec.classes} labels, got {list(labels)}")
        require(len(set(labels)) == len(labels), "class_labels", f"labels must differ, got {list(labels)}")
    if values.dtype.kind not in "OUS":
        return values, labels
    strings = values.astype(str)
    if labels is None:
        found = set(strings.tolist())
        found = sorted(found, key=float) if all(map(_numeric, found)) else sorted(found)
        require(
            len(found) == spec.classes,
            "y",
            f"holds {len(found)} distinct labels {found[:10]} for C = {spec.classes} classes: give class_labels",
        )
        labels = tuple(found)
    unknown = sorted(set(strings.tolist()) - set(labels))
    require(not unknown, "y", f"holds label(s) {unknown[:10]} outside the classes {list(labels)}")
    code = {label: c for c, label in enumerate(labels)}
    return np.array([code[v] for v in strings.tolist()], dtype=float), labels


def check_data(spec: ModelSpec, inputs: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate data: ``inputs`` of shape (n, spec.width) (:func:`model_inputs`), y of shape (n,), all finite;
    for a categorical model also :func:`check_classes_data`.

    Errors name the field ``x``, which the inputs are (features, then any given h0 and nu0)."""
    inputs = as_floats(inputs, "x")
    y = as_floats(y, "y")
    require(inputs.ndim == 2, "x", f"must be a 2-D array (n, d), got shape {inputs.shape}")
    given = spec.frozen.given
    how = f" ({', '.join(input_columns(spec))}: build them with model_inputs(spec, x, h0))" if given else ""
    require(inputs.shape[1] == spec.width, "x", f"must have {spec.width} columns{how}, got {inputs.shape[1]}")
    require(y.ndim == 1, "y", f"must be a 1-D array (n,), got shape {y.shape}")
    require(y.shape[0] == inputs.shape[0], "y", f"has {y.shape[0]} rows but x has {inputs.shape[0]}")
    require(y.shape[0] > 0, "y", "is empty")
    require(bool(np.all(np.isfinite(inputs))), "x", "contains NaN or inf")
    require(bool(np.all(np.isfinite(y))), "y", "contains NaN or inf")
    if "nu0" in given:
        require(bool(np.all(inputs[:, -1] > 0)), "nu0", "variances must be positive")
    if spec.categorical:
        check_classes_data(spec, inputs, y)
    return inputs, y


def feature_names(spec: ModelSpec, x: Any, names: Sequence[str] | None = None) -> tuple[str, ...] | None:
    """The names of the d features: ``names`` when given, else those ``x`` carries (a pandas DataFrame's
    columns, or the labels of an xarray DataArray's second dimension; the first d), else None. The
    default names x1..xd count as none: such results keep integer feature coordinates."""
    if names is None:
        if hasattr(x, "columns"):  # pandas
            names = [str(c) for c in x.columns]
        elif hasattr(x, "dims") and len(getattr(x, "dims", ())) == 2 and x.dims[1] in getattr(x, "coords", {}):
            names = [str(c) for c in x.coords[x.dims[1]].values]
        else:
            return None
        names = names[: spec.dim]
        if tuple(names) == input_columns(spec)[: spec.dim]:
            return None
    names = tuple(str(n) for n in names)
    require(len(names) == spec.dim, "features", f"needs d = {spec.dim} names, got {len(names)}: {list(names)}")
    require(len(set(names)) == len(names), "features", f"names must differ, got {list(names)}")
    return names


def model_inputs(spec: ModelSpec, x: Any, h0: Any = None, nu0: Any = None) -> np.ndarray:
    """The inputs the model reads, shape (n, spec.width): the features x, then h0 and nu0 if given.

    ``h0`` is the frozen expert's mean per observation (the predictions of a pre-trained model; a
    frozen classifier's C class probabilities or logits, shape (n, C)) or any JAX-traceable function
    of x; ``nu0`` its variance per observation. Each is required exactly
    when the spec's frozen expert says ``"given"`` for it. Inputs already of width
    ``spec.width`` pass through unchanged.
    """
    x = as_floats(x, "x")
    if x.ndim == 2 and x.shape[1] == spec.width and h0 is None and nu0 is None:
        return x
    require(x.ndim == 2, "x", f"must be a 2-D array (n, d), got shape {x.shape}")
    require(x.shape[1] == spec.dim, "x", f"must have d = {spec.dim} columns, got {x.shape[1]}")
    columns = [x]
    for name, value, field_name in (("h0", h0, "mean"), ("nu0", nu0, "nu")):
        needed = name in spec.frozen.given
        require(
            needed or value is None,
            name,
            f"the frozen expert computes it (frozen.{field_name} = {getattr(spec.frozen, field_name)!r}); "
            f"set frozen.{field_name} = 'given' to supply it per observation",
        )
        if not needed:
            continue
        require(value is not None, name, f"required: frozen.{field_name} is 'given' (one value per observation)")
        if callable(value):
            value = value(jnp.asarray(x))
        column = as_floats(value, name)
        width = spec.frozen.given_width(name)
        shape = (x.shape[0],) if width == 1 else (x.shape[0], width)
        what = "one per row of x" if width == 1 else f"C = {width} class probabilities (or logits) per row of x"
        require(column.shape == shape, name, f"must have shape {shape}, {what}, got {column.shape}")
        columns.append(column.reshape(x.shape[0], width))
    return np.concatenate(columns, axis=1)
