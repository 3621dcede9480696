"""Inspector 2.x (Node 22), a tasks client nobody here wrote: in the modern era it declares the tasks extension,
gets a task from run_desktop_flow, polls tasks/get at the advertised interval and prints the final result; in the
legacy era the same call is the ordinary synchronous start."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from tests.node_tools import inspector2

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ARGUMENTS = {
    "flow": "Enter invoices into legacy ERP",
    "inputs": {"InvoiceNumber": "INV-1", "VendorId": "V-9", "Amount": 12.5, "Currency": "EUR"},
}


async def call_run_tool(era: str) -> tuple[dict[str, object], str]:
    command, env = inspector2()
    server = [sys.executable, "-m", "desktop_flows_mcp", "--emulator"]
    call = ["--method", "tools/call", "--tool-name", "run_desktop_flow", "--tool-args-json", json.dumps(ARGUMENTS)]
    with anyio.fail_after(90):
        result = await anyio.run_process(
            [*command, "--protocol-era", era, "--format", "json", *call, "--", *server], env=env, check=False
        )
    assert result.returncode == 0, result.stderr.decode()[-4000:]
    return json.loads(result.stdout)["result"], result.stderr.decode()


async def test_the_modern_inspector_runs_a_flow_as_a_task_and_reads_it_to_completion() -> None:
    result, log = await call_run_tool("modern")
    run = result["structuredContent"]
    assert isinstance(run, dict) and run["status"] == "Succeeded" and run["is_terminal"] is True
    assert run["outputs"]["Status"] == "Posted" and run["outputs"]["PostedTotal"] == 12.5
    assert f"task created task_id=dfrun-{run['run_id']}" in log


async def test_the_legacy_inspector_gets_the_ordinary_start() -> None:
    result, log = await call_run_tool("legacy")
    run = result["structuredContent"]
    assert isinstance(run, dict) and run["status"] == "Waiting" and run["is_terminal"] is False
    assert "task created" not in log
