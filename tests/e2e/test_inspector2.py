"""Inspector 2.x (Node 22) as the modern-era client nobody here wrote: its ``--strict`` lint judges every published
tool schema for portability across clients, in both protocol eras."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from tests.node_tools import inspector2

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_every_tool_schema_passes_the_strict_portability_lint(era: str) -> None:
    command, env = inspector2()
    server = [sys.executable, "-m", "desktop_flows_mcp", "--emulator"]
    result = await anyio.run_process(
        [*command, "--protocol-era", era, "--method", "tools/list", "--strict", "--", *server], env=env, check=False
    )
    assert result.returncode == 0, result.stderr.decode()[-4000:]
    listed = json.loads(result.stdout)
    assert {tool["name"] for tool in listed["tools"]} >= {"run_desktop_flow", "check_access"}
