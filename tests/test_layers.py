"""The layers hold: the core (errors, knowledge, models, bounds, clock) reads nothing above it, config reads only the
core, and no two packages import each other, directly or round a loop; errors are worded in errors/ only, and
Dataverse rows are read in models/ only. Read from the source, imports inside functions included."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import desktop_flows_mcp
from desktop_flows_mcp.emulator.machine_tables import TABLES

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
    assert _error_constructions() == set()


# What Dataverse's rows are made of: every column and navigation property of the tables the emulator serves, and the
# properties of WhoAmI's answer and Global Discovery's instances. Left out: names this server also uses for its own
# JSON (tool schemas, MCP messages, ASGI scopes), which would be read under them legitimately.
OUR_OWN_WORDS = {"name", "type", "description", "inputs", "outputs"}
DATAVERSE_PROPERTIES = {
    *(column for table in TABLES.values() for column in (*table.columns, *table.navigations)),
    *("UserId", "BusinessUnitId", "OrganizationId"),  # WhoAmI
    *("Url", "ApiUrl", "FriendlyName", "UniqueName", "EnvironmentId", "Region", "State", "Version"),  # Instances
} - OUR_OWN_WORDS


class _RowReads(ast.NodeVisitor):
    """Each place a Dataverse property is read out of a row: ``row.get("statuscode")``, ``row["statuscode"]``, or a
    cell reader's column (``number(row, "statuscode")``)."""

    def __init__(self, where: str) -> None:
        self.where, self.found = where, set[tuple[str, int, str]]()

    def _read(self, node: ast.expr, key: ast.expr | None) -> None:
        if isinstance(key, ast.Constant) and key.value in DATAVERSE_PROPERTIES:
            self.found.add((self.where, node.lineno, str(key.value)))

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            self._read(node, node.args[0])
        elif len(node.args) >= 2:
            self._read(node, node.args[1])
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node, node.slice)
        self.generic_visit(node)


def _row_reads() -> set[tuple[str, int, str]]:
    found: set[tuple[str, int, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if not where.startswith(("models/", "emulator/")):  # the emulator is the other side of the wire
            visitor = _RowReads(where)
            visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
            found |= visitor.found
    return found


def test_dataverse_rows_are_read_in_models_only() -> None:
    """Services get typed values (``FlowRun.from_row``, ``RunPlacement``, ``RunCount``, ``DiscoveredEnvironment``, ...);
    a column read elsewhere belongs in a parser in models/."""
    assert _row_reads() == set()
