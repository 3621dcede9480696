"""The tool surface is a public API: names, descriptions, schemas and annotations change only on purpose.

To accept a deliberate change: ``UPDATE_SNAPSHOTS=1 python -m pytest tests/test_tool_surface.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from desktop_flows_mcp.server import TOOL_NAMES
from tests.helpers import connect

pytestmark = pytest.mark.anyio
SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"


async def list_tools() -> list[dict[str, Any]]:
    async with connect() as client:
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


async def test_tool_surface_matches_the_snapshot() -> None:
    current = await list_tools()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), "tool surface changed; see the module docstring"


async def test_tool_names_are_exactly_the_contract() -> None:
    assert [tool["name"] for tool in await list_tools()] == list(TOOL_NAMES)


async def test_every_tool_has_a_title_a_description_and_all_four_annotations() -> None:
    for tool in await list_tools():
        assert tool["title"], tool["name"]
        assert len(tool["description"]) > 80, tool["name"]
        hints = tool["annotations"]
        assert {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} <= hints.keys(), tool["name"]


async def test_only_run_and_cancel_change_anything() -> None:
    writers = {tool["name"] for tool in await list_tools() if not tool["annotations"]["readOnlyHint"]}
    assert writers == {"run_desktop_flow", "cancel_desktop_flow_run"}


async def test_every_output_schema_admits_the_error_envelope() -> None:
    envelope = {
        "error": {
            "code": "not_found",
            "message": "m",
            "retryable": False,
            "http_status": 404,
            "dataverse_code": "0x80040217",
            "hint": "h",
        }
    }
    for tool in await list_tools():
        schema = tool["outputSchema"]
        assert schema["type"] == "object"
        validator = Draft202012Validator(schema)
        errors: list[Any] = list(validator.iter_errors(envelope))  # pyright: ignore[reportUnknownMemberType]
        assert not errors, (tool["name"], errors[0].message)
        empty: list[Any] = list(validator.iter_errors({}))  # pyright: ignore[reportUnknownMemberType]
        assert empty, f"{tool['name']} accepts an empty result"


def readme_tools_table(tools: list[dict[str, Any]]) -> str:
    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    lines = [
        "| Tool | Title | Read-only | Destructive | Idempotent | Open world | Arguments |",
        "|---|---|---|---|---|---|---|",
    ]
    for tool in tools:
        hints = tool["annotations"]
        arguments = ", ".join(f"`{name}`" for name in tool["inputSchema"]["properties"]) or "—"
        lines.append(
            f"| `{tool['name']}` | {tool['title']} | {yes(hints['readOnlyHint'])} | {yes(hints['destructiveHint'])} "
            f"| {yes(hints['idempotentHint'])} | {yes(hints['openWorldHint'])} | {arguments} |"
        )
    return "\n".join(lines)


async def test_the_readme_tools_table_matches_the_server() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    documented = readme.split("<!-- tools:start -->\n", 1)[1].split("\n<!-- tools:end -->", 1)[0]
    assert documented == readme_tools_table(await list_tools())
