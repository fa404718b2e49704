"""The package keeps its shape: small modules, no import cycle, no private name across packages.

The layer order itself (front doors → facade → pipeline → parts → values) is an import-linter
contract in pyproject.toml, checked by ``nox -s lint``; these tests guard what it cannot express.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "model_fetch"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _private_owner(dotted: str) -> str | None:
    """The package that owns the first private segment of ``dotted``, or None if it has none."""
    parts = dotted.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def _imports(module: str) -> list[tuple[int, str]]:
    """Every ``model_fetch`` name a module imports, as dotted paths, with line numbers."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = _package_of(module)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "model_fetch"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_500_lines(module: str) -> None:
    """One concept per module: none grows past 500 lines (STYLE.md rule 2)."""
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concept"


def test_no_private_name_imported_across_packages() -> None:
    """A package's private modules and names are its own; others use what its __init__ exports."""
    crossings = []
    for module in MODULES:
        importer = _package_of(module)
        for _line, name in _imports(module):
            owner = _private_owner(name)
            if owner is not None and not (importer + ".").startswith(owner + "."):
                crossings.append(f"{MODULES[module].relative_to(SRC)} imports {name}")
    assert not crossings, "\n".join(crossings)


def _graph() -> dict[str, set[str]]:
    """Module → the modules it imports (at run time, lazily or for type checking: all count)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module in MODULES:
        for _line, name in _imports(module):
            target = name
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # A package importing its own submodules (re-exports) is not a cycle of concepts.
            if target and target != module and not target.startswith(module + "."):
                graph[module].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in ``graph`` (its modules in order), or [] when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or around a loop (type-only imports count)."""
    assert _cycle(_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    """The cycle check can fail: a loop of three modules is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert set(_cycle(graph)) == {"a", "b", "c"}
    assert _cycle({"a": {"b"}, "b": set()}) == []
