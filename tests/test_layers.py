"""The layers hold: the core (errors, knowledge, models, bounds) reads nothing above it, config reads only the
core, and no two packages import each other, directly or round a loop. Read from the source, imports inside functions
included."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import desktop_flows_mcp

PACKAGE = Path(desktop_flows_mcp.__file__).parent
CORE = {"bounds", "errors", "knowledge", "models"}


def _imports() -> dict[str, set[str]]:
    """Top-level unit (package or module) → the units it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).parts)
        unit, where = parts[0].removesuffix(".py"), parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = where[: len(where) - node.level + 1]
                target = [*base, *(node.module or "").split(".")] if node.module else base
                names = [target[0]] if target else [alias.name for alias in node.names]
                graph[unit].update(name for name in names if name not in (unit, "__version__"))
    return graph


def test_the_core_imports_nothing_above_it_and_config_only_the_core() -> None:
    graph = _imports()
    for unit in CORE:
        assert graph[unit] <= CORE, (unit, graph[unit] - CORE)
    assert graph["config"] <= CORE, graph["config"] - CORE


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = _imports()

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            unit = todo.pop()
            if unit not in seen:
                seen.add(unit)
                todo.extend(graph.get(unit, ()))
        return seen

    assert [unit for unit in sorted(graph) if unit in reachable(unit)] == []
