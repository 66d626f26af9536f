"""The package's layers (docs: development): each imports only the layers below it; the public API imports.

Layer order, from the bottom: the foundations (errors, files, runtime, defaults), then model,
inference, results, diagnostics, workflow, studies, plots, cli. Plots compute no statistics (no
SciPy, no study runner); studies draw no figures (no matplotlib, no plots); diagnostics run no fit
or sampler (a computation that fits or samples is a study). Each function sits in the room its job names
(:data:`ROOMS`), and the top-level namespace is one door per verb (:data:`PUBLIC_API`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import subprocess
from pathlib import Path

import pytest

import bayescmoe

PACKAGE = Path(bayescmoe.__file__).parent
LAYERS = ("foundation", "model", "inference", "results", "diagnostics", "workflow", "studies", "plots", "cli")
FOUNDATIONS = ("defaults", "errors", "files", "runtime")
#: the top-level namespace, exactly: one door per verb, no internals (a new name is a decision, made here)
PUBLIC_API = {
    "BayescmoeError",
    "CollapseReport",
    "FrozenExpert",
    "ModelSpec",
    "NutsFit",
    "PointEstimate",
    "Prior",
    "PromptExpert",
    "Rate",
    "Setting",
    "SingularReport",
    "Truth",
    "__version__",
    "collapse_report",
    "configure",
    "describe",
    "diagnose",
    "fit",
    "fit_map",
    "fit_mle",
    "fit_nuts",
    "frozen_baseline",
    "get_setting",
    "ladder_evidence",
    "load",
    "log_likelihood",
    "model_inputs",
    "predict",
    "read_data",
    "relabel",
    "save",
    "simulate",
    "singular_report",
    "to_datatree",
}
#: where a name is defined: the parametrisation in the model layer, the one-call fit in the workflow
#: layer, the report that runs NUTS on power posteriors among the studies
ROOMS = {
    "bayescmoe.model.params": (
        "prior_distributions",
        "constrain",
        "unconstrain",
        "log_prior",
        "log_posterior",
        "flat_labels",
        "by_label",
        "name_of",
    ),
    "bayescmoe.workflow.fitting": ("fit", "run_setting", "split_seed"),
    "bayescmoe.workflow.predicting": ("predict",),
    "bayescmoe.studies.singular": ("singular_report", "SingularReport", "log_evidence", "ladder_evidence"),
    "bayescmoe.model.numpyro_model": ("model",),
}
#: what a diagnostic may not call: fitting or sampling makes it a study
RUNNERS = ("fit_mle", "fit_map", "fit_nuts", "nuts_program", "compiled_nuts", "power_posterior", "em_fit", "fit")


def layer_of(module: str) -> str | None:
    """The layer of a ``bayescmoe`` module (dotted name); None for the top-level package itself."""
    parts = module.split(".")
    if parts[0] != "bayescmoe":
        raise ValueError(module)
    if len(parts) == 1:
        return None
    return "foundation" if parts[1] in FOUNDATIONS else parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, typing: bool = True) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function (``typing=False``: not the
    imports under ``if TYPE_CHECKING:``, which exist for annotations only)."""
    found = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            if not typing:
                return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "bayescmoe":  # "from bayescmoe import results" imports a subpackage
                found.update(f"bayescmoe.{a.name}" for a in node.names if (PACKAGE / a.name).exists())
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py")


def test_every_module_is_in_a_layer():
    for path in MODULES:
        assert layer_of(module_name(path)) in LAYERS, path


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_a_layer_imports_only_layers_below_it(path):
    name = module_name(path)
    rank = LAYERS.index(layer_of(name))
    for imported in imports_of(path):
        if imported.split(".")[0] != "bayescmoe":
            continue
        assert imported != "bayescmoe", f"{name} imports the top-level API, which sits above every layer"
        assert LAYERS.index(layer_of(imported)) <= rank, f"{name} ({LAYERS[rank]}) imports {imported}"


def test_plots_compute_no_statistics_and_studies_draw_no_figures():
    for path in MODULES:
        name, imported = module_name(path), imports_of(path, typing=False)
        roots = {m.split(".")[0] for m in imported}
        if layer_of(name) == "plots":
            assert "scipy" not in roots, name
            assert not any(m.startswith("bayescmoe.studies") for m in imported), f"{name} runs study code"
        if layer_of(name) == "studies":
            assert "matplotlib" not in roots, name


def test_the_layer_test_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bayescmoe.plots.fit import plot_pair\n")
    assert "bayescmoe.plots.fit" in imports_of(bad)
    assert LAYERS.index(layer_of("bayescmoe.plots.fit")) > LAYERS.index("model")


def test_public_api_names_import_from_the_top_level():
    assert set(bayescmoe.__all__) == PUBLIC_API
    namespace: dict = {}
    exec(f"from bayescmoe import {', '.join(bayescmoe.__all__)}", namespace)
    assert all(callable(namespace[name]) for name in PUBLIC_API - {"__version__"})
    assert namespace["__version__"] == importlib.metadata.version("bayescmoe")
    public = {name for name in vars(bayescmoe) if not name.startswith("_")}
    layers = {layer for layer in LAYERS[1:]} | set(FOUNDATIONS)
    assert public - layers - PUBLIC_API == set(), "names at the top level that are not in __all__"


def test_lazy_public_names_are_those_the_static_imports_name():
    """The top level imports its names on first use; its ``if TYPE_CHECKING:`` block states them for static
    readers (the API reference): each name resolves to the object that block imports."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    static = {a.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    assert set(static) == PUBLIC_API - {"__version__", "configure", "BayescmoeError"}
    for name, module in static.items():
        assert getattr(bayescmoe, name) is getattr(importlib.import_module(module), name), name
    with pytest.raises(AttributeError):
        bayescmoe.no_such_name  # noqa: B018


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_function_sits_in_its_room(room):
    module = importlib.import_module(room)
    for name in ROOMS[room]:
        assert getattr(module, name).__module__ == room, f"{name} is defined in {getattr(module, name).__module__}"
    elsewhere = [
        module_name(path)
        for path in MODULES
        if module_name(path) != room
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in ROOMS[room] and node.col_offset == 0
    ]
    assert not elsewhere, f"defined again in {elsewhere}"


def test_diagnostics_run_no_fit_or_sampler():
    for path in MODULES:
        if layer_of(module_name(path)) != "diagnostics":
            continue
        tree = ast.parse(path.read_text())
        imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not imported & set(RUNNERS), f"{module_name(path)} imports {imported & set(RUNNERS)}: a study"


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_each_layer_exposes_its_all(layer):
    module = importlib.import_module(f"bayescmoe.{layer}")
    assert module.__doc__ and module.__all__
    for name in module.__all__:
        assert hasattr(module, name), f"bayescmoe.{layer}.{name}"


def test_no_source_file_is_hidden_by_gitignore():
    """A file .gitignore hides is missing from a clone (``results/`` once matched bayescmoe/results/)."""
    root = PACKAGE.parent
    if subprocess.run(["git", "rev-parse"], cwd=root, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    on_disk = sorted(str(p.relative_to(root)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    ignored = subprocess.run(["git", "check-ignore", *on_disk], cwd=root, capture_output=True, text=True)
    assert not ignored.stdout.split(), f"hidden by .gitignore: {ignored.stdout.split()}"
