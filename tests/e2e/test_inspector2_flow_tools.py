"""Inspector 2.x ``--strict`` on the per-flow tools: every schema generated from the emulator's flows (non-ASCII
names, a flow with no inputs, PAD kinds JSON Schema has no type for) must lint clean, in both protocol eras."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from desktop_flows_mcp.emulator.seed import ALL_FLOWS, PUBLISHED
from tests.node_tools import inspector2

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ALLOWED = ",".join(flow.name for flow in ALL_FLOWS if flow.state == PUBLISHED)


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_every_per_flow_tool_schema_passes_the_strict_portability_lint(era: str) -> None:
    command, env = inspector2()
    server = [sys.executable, "-m", "desktop_flows_mcp", "--emulator", "--flow-tools", "--allowed", ALLOWED]
    result = await anyio.run_process(
        [*command, "--protocol-era", era, "--method", "tools/list", "--strict", "--", *server], env=env, check=False
    )
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr[-4000:]
    assert "Warning:" not in stderr and "Error:" not in stderr, stderr[-4000:]
    names = {tool["name"] for tool in json.loads(result.stdout)["tools"]}
    assert {"run_zahlerstande_ubertragen", "run_reconciliation_bancaire", "run_check_vpn_connectivity"} <= names
    assert len([name for name in names if name.startswith("run_") and name != "run_desktop_flow"]) == 20


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_a_typed_call_from_inspector_meets_the_published_output_schema(era: str) -> None:
    """Legacy: the ordinary run record. Modern: Inspector declares tasks, so the per-flow call becomes a task that
    it polls to completion; its result (what wait_for_desktop_flow_run returns) meets the tool's output schema."""
    command, env = inspector2()
    server = [sys.executable, "-m", "desktop_flows_mcp", "--emulator", "--flow-tools", "--allowed", ALLOWED]
    arguments = ["Zaehlernummer=Z-4711", "Zaehlerstand=1234.5", 'run_options={"wait_seconds": 0}']
    call = ["--method", "tools/call", "--tool-name", "run_zahlerstande_ubertragen"]
    for argument in arguments:
        call += ["--tool-arg", argument]
    result = await anyio.run_process([*command, "--protocol-era", era, *call, "--", *server], env=env, check=False)
    assert result.returncode == 0, result.stderr.decode()[-4000:]
    answer = json.loads(result.stdout)
    assert answer["isError"] is False
    if era == "legacy":
        assert answer["structuredContent"]["flow_name"] == "Zählerstände übertragen"
        assert answer["structuredContent"]["status"] == "Waiting"
    else:
        assert answer["structuredContent"]["status"] == "Succeeded"
        assert answer["structuredContent"]["outputs"]["Bestaetigung"].startswith("Zählerstand 1234.5")
