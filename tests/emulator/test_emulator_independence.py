"""The emulator is the other side of the wire: it imports nothing of the client (labels, error maps, knowledge)."""

from __future__ import annotations

import ast
from pathlib import Path

from desktop_flows_mcp import emulator


def test_no_emulator_module_imports_client_code() -> None:
    offenders: list[str] = []
    for path in Path(emulator.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                outside = node.level > 1 or (
                    module.startswith("desktop_flows_mcp") and not module.startswith("desktop_flows_mcp.emulator")
                )
                if outside:
                    offenders.append(f"{path.name}: from {'.' * node.level}{module}")
            elif isinstance(node, ast.Import):
                offenders += [
                    f"{path.name}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("desktop_flows_mcp")
                    and not alias.name.startswith("desktop_flows_mcp.emulator")
                ]
    assert offenders == []
