"""The layers hold: the core (errors, knowledge, models, bounds, clock) reads nothing above it, config reads only the
core, and no two packages import each other, directly or round a loop; errors are worded in errors/ only. Read from
the source, imports inside functions included."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import desktop_flows_mcp

PACKAGE = Path(desktop_flows_mcp.__file__).parent
CORE = {"bounds", "clock", "errors", "knowledge", "models"}


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


# (file under the package, function) → why that function still builds a DesktopFlowsError outside errors/.
ERRORS_WORDED_ELSEWHERE = {
    ("signin/aadsts.py", "entra_error"): "Entra's refusal, worded from its AADSTS code with the table of hints by "
    "code that lives beside it in signin/aadsts.py (the sign-in's settings fill the hints in)",
}


class _ErrorConstructions(ast.NodeVisitor):
    """Each ``DesktopFlowsError(...)`` call, named by its file and the innermost function around it."""

    def __init__(self, where: str) -> None:
        self.where, self.inside, self.found = where, ["<module>"], set[tuple[str, str]]()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.inside.append(node.name)
        self.generic_visit(node)
        self.inside.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        callee = node.func
        if (callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", None)) == "DesktopFlowsError":
            self.found.add((self.where, self.inside[-1]))
        self.generic_visit(node)


def _error_constructions() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if not where.startswith("errors/"):
            visitor = _ErrorConstructions(where)
            visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
            found |= visitor.found
    return found


def test_errors_are_worded_in_errors_only() -> None:
    """Other packages raise what a constructor in errors/ words (errors.not_allowed(...), ...), so every message an
    agent can see is in one place; a new DesktopFlowsError(code, "...") elsewhere belongs there as a constructor."""
    assert _error_constructions() == set(ERRORS_WORDED_ELSEWHERE)
