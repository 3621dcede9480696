"""Inspector 2.x against a server that requires approval. Its CLI cannot answer an elicitation (it does not offer
form elicitation), so it gets the confirm_token path: a preview and a token, nothing started, no task (modern: it
declares tasks), and schemas with confirm_token that still pass the strict portability lint."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from tests.node_tools import inspector2

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
SERVER = [sys.executable, "-m", "desktop_flows_mcp", "--emulator", "--approval", "runs"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_inspector_gets_a_preview_and_a_confirm_token_and_nothing_starts(era: str) -> None:
    command, env = inspector2()
    call = ["--method", "tools/call", "--tool-name", "run_desktop_flow", "--tool-arg"]
    call += ["flow=Enter invoices into legacy ERP", 'inputs={"InvoiceNumber": "INV-1", "VendorId": "V-9"}']
    result = await anyio.run_process([*command, "--protocol-era", era, *call, "--", *SERVER], env=env, check=False)
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 5, stderr[-4000:]  # 5: the tool answered isError
    answer = json.loads(stdout)
    error = answer["structuredContent"]["error"]
    assert error["code"] == "approval_required" and answer.get("resultType") != "task"
    assert error["approval"]["preview"]["inputs"] == {"InvoiceNumber": "INV-1", "VendorId": "V-9"}
    assert len(error["approval"]["confirm_token"]) == 32
    assert "approval requested via=confirm_token" in stderr and "run started" not in stderr


async def test_the_confirm_token_schemas_pass_the_strict_portability_lint() -> None:
    command, env = inspector2()
    lint = ["--protocol-era", "modern", "--method", "tools/list", "--strict"]
    result = await anyio.run_process([*command, *lint, "--", *SERVER], env=env, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 0 and "Warning:" not in stderr and "Error:" not in stderr, stderr[-4000:]
    tools = {tool["name"]: tool for tool in json.loads(result.stdout)["tools"]}
    assert "confirm_token" in tools["cancel_desktop_flow_run"]["inputSchema"]["properties"]
