"""The package's shape (docs/architecture.md): layered imports read from the source with ast,
no import cycles, the package root imported by nobody, and modules and functions small enough
to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "emotionkd"

#: the layers, lowest first; a module may import modules of its own layer or lower ones only.
#: A name ending in ".*" stands for a package and every module in it. Keep in step with the
#: table in docs/architecture.md.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("version", "errors", "choices", "validation", "ondisk", "settings",
                    "locks", "outputs")),
    ("signals and records", ("signals", "splits", "metrics", "features", "neurokit_features",
                             "labels", "datasets", "datasets.records", "datasets.safe_pickle",
                             "datasets.py2pickle", "datasets.bdf")),
    ("readers and writers", ("datasets.deap", "datasets.hci", "datasets.amigos",
                             "datasets.own", "datasets.mne_files", "datasets.xdf",
                             "datasets.synthetic", "datasets.synthetic_hci",
                             "datasets.synthetic_amigos", "datasets.synthetic_wristband",
                             "datasets.worlds", "store.*",
                             "recordings.*")),
    ("models and distillation methods", ("models.*", "distill", "distill.losses",
                                         "distill.methods.*")),
    ("configuration", ("config.*",)),
    ("data pipeline", ("preprocess", "ingest.*", "windows", "distributed", "devices")),
    ("training", ("training", "epochlog", "checkpoint", "distill.feedback", "distill.trainer",
                  "distill.targets")),
    ("jobs, evaluation and deployment", ("jobs", "evaluation.*", "figures", "modelcard",
                                         "modelmeta", "predict", "export")),
    ("front ends", ("api", "demo", "cli.*", "cli_docs", "__main__", "")),
]

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str) -> set[str]:
    """Every emotionkd module ``name`` imports, at module level or inside functions; imports
    under ``if TYPE_CHECKING:`` do not run and do not count. ``from P import x`` counts as
    an import of ``P.x`` where that is a module, else of ``P``."""
    path = MODULES[name]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "emotionkd")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "emotionkd":
                subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
                found.update(subs)
                if len(subs) < len(node.names):
                    found.add(mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found - {name}


GRAPH = {name: _imports(name) for name in MODULES}


def _layer_of(module: str) -> int:
    rel = module.removeprefix("emotionkd").removeprefix(".")
    for level, (_title, members) in enumerate(LAYERS):
        for m in members:
            if rel == m or (m.endswith(".*") and (rel == m[:-2] or rel.startswith(m[:-1]))):
                return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__} and to "
                         "docs/architecture.md")


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer_of(name)


def test_no_module_imports_a_higher_layer():
    wrong = []
    for name, deps in GRAPH.items():
        for dep in deps:
            if dep in MODULES and _layer_of(dep) > _layer_of(name):
                wrong.append(f"{name} ({LAYERS[_layer_of(name)][0]}) imports {dep} "
                             f"({LAYERS[_layer_of(dep)][0]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_nothing_imports_the_package_root():
    back = sorted(name for name, deps in GRAPH.items() if "emotionkd" in deps)
    assert not back, f"these import the package root, which imports them back: {back}"
    # the root itself loads only the version at import time (the API on first use)
    tree = ast.parse(MODULES["emotionkd"].read_text(encoding="utf-8"))
    top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in top if m and m.startswith("emotionkd")} <= {"emotionkd.version"}


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def walk(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH.get(name, ())):
            if dep not in MODULES:
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                walk(dep)
        path.pop()
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            walk(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_are_small(name):
    text = MODULES[name].read_text(encoding="utf-8")
    n_lines = len(text.splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{name}: {n_lines} lines (> {MAX_MODULE_LINES})"
    long = [f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_layering_check_sees_function_level_imports():
    # cli.data imports the store inside a command function only
    assert "emotionkd.store" in GRAPH["emotionkd.cli.data"]
    assert _layer_of("emotionkd.store.reader") < _layer_of("emotionkd.cli.data")
