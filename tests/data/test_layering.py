"""rnnlab.data stands alone: no import of rnnlab.models or rnnlab.train, and no import cycle inside it.

Read from the source with `ast` (imports inside functions count too), so it needs no import-linter; the
same two rules are import-linter contracts in pyproject.toml (`lint-imports`).
"""

import ast
import importlib
import warnings
from pathlib import Path

import pytest

import rnnlab.data

DATA = Path(rnnlab.data.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["rnnlab", "data", *path.relative_to(DATA).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The rnnlab modules `path` imports (a `from package import name` counts as package.name when that
    is a module, else as the package)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + [base]).strip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (DATA.parent.parent / (candidate.replace(".", "/") + ".py")).is_file() or (
                    DATA.parent.parent / candidate.replace(".", "/") / "__init__.py"
                ).is_file()
                found.add(candidate if is_module else base)
    return {module for module in found if module.startswith("rnnlab")}


GRAPH = {_module_name(path): _imports(path) for path in sorted(DATA.rglob("*.py"))}


def test_the_graph_was_read():
    assert "rnnlab.data.text.corpus" in GRAPH["rnnlab.data.text.shakespeare"]
    assert "rnnlab.data.registry" in GRAPH["rnnlab.data.text.corpus"]
    assert len(GRAPH) > 25


def test_data_does_not_import_models_or_train():
    offenders = {
        module: sorted(i for i in imports if i.startswith(("rnnlab.models", "rnnlab.train")))
        for module, imports in GRAPH.items()
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_no_import_cycles_inside_data():
    cycles = []

    def visit(module, stack):
        if module in stack:
            cycles.append(stack[stack.index(module) :] + [module])
            return
        if module in done:
            return
        for imported in GRAPH.get(module, ()):
            # importing a package's submodule runs the package's __init__ first; that edge is implied
            if not module.startswith(imported + "."):
                visit(imported, stack + [module])
        done.add(module)

    done: set[str] = set()
    for module in GRAPH:
        visit(module, [])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_every_module_imports(module):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # importing a shim itself does not warn; only moved names do
        importlib.import_module(module)
