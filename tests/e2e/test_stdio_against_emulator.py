"""End to end: the real console script as a subprocess over stdio, the MCP SDK's client, and the emulator
served on loopback HTTP in this process (so tests move its clock and arm faults instead of sleeping)."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from desktop_flows_mcp.emulator import EMULATOR_TOKEN, RUN_ONLY_TOKEN
from tests.helpers import error_of, ok
from tests.processes import CONNECTION, RUN_PATH, console_script, emulator_on_loopback

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INVOICE_FLOW = "Enter invoices into legacy ERP"
FAILING_FLOW = "Fill permit application on government portal"


@asynccontextmanager
async def server_over_stdio(
    url: str, token: str = EMULATOR_TOKEN, mode: Any = "legacy", **env: str
) -> AsyncGenerator[Client, None]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    clean.update(
        DATAVERSE_URL=url,
        DATAVERSE_ACCESS_TOKEN=token,
        DESKTOP_FLOWS_CONNECTION=CONNECTION,
        DESKTOP_FLOWS_POLL_SECONDS="0.05",
        **env,
    )
    params = StdioServerParameters(command=console_script(), args=["--log-level", "INFO"], env=clean)
    async with Client(params, mode=mode) as client:
        yield client


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_both_protocol_eras_over_stdio(mode: str, version: str) -> None:
    async with emulator_on_loopback() as (_, url), server_over_stdio(url, mode=mode) as client:
        assert client.protocol_version == version
        flows = ok(await client.call_tool("list_desktop_flows", {"search": "Zählerstände"}))["flows"]
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": flows[0]["id"], "inputs": {"x": 1}}))
    assert flows[0]["name"] == "Zählerstände übertragen"
    assert error["code"] == "invalid_argument"


async def test_every_tool_against_the_emulator_over_stdio() -> None:
    async with emulator_on_loopback() as (emulator, url), server_over_stdio(url) as client:
        # List with paging: 21 published desktop flows, five a page.
        names: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            args: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
            page = ok(await client.call_tool("list_desktop_flows", args))
            names += [flow["name"] for flow in page["flows"]]
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        assert len(names) == len(set(names)) == 21
        assert names == sorted(names, key=str.casefold)

        found = ok(await client.call_tool("list_desktop_flows", {"search": "o'brien"}))["flows"]
        assert [flow["name"] for flow in found] == ["Post O'Brien & Sons invoices"]
        assert [f["name"] for f in ok(await client.call_tool("list_desktop_flows", {"search": "10%"}))["flows"]] == [
            "Apply 10% discount"
        ]

        schema = ok(await client.call_tool("get_desktop_flow_schema", {"flow": INVOICE_FLOW}))
        assert schema["inputs"]["properties"]["Amount"]["type"] == "number"

        refs = ok(await client.call_tool("list_connection_references", {}))["connection_references"]
        assert {r["connector_id"] for r in refs} == {"/providers/Microsoft.PowerApps/apis/shared_uiflow"}

        inputs = {"InvoiceNumber": "INV-2026-0412", "VendorId": "V-100", "Amount": 1250.5, "Currency": "EUR"}
        started = ok(await client.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": inputs}))
        assert started["status"] == "Waiting"
        run_id = started["run_id"]

        messages: list[str | None] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            messages.append(message)

        early = ok(
            await client.call_tool(
                "wait_for_desktop_flow_run", {"run_id": run_id, "timeout_seconds": 1}, progress_callback=on_progress
            )
        )
        assert early["is_terminal"] is False
        assert "wait_for_desktop_flow_run again" in early["hint"]

        await emulator.advance(60)
        done = ok(
            await client.call_tool("wait_for_desktop_flow_run", {"run_id": run_id}, progress_callback=on_progress)
        )
        assert done["status"] == "Succeeded"
        assert done["outputs"]["PostedTotal"] == 1250.5
        assert messages and messages[-1] == f"Run {run_id} is Succeeded"

        outputs = ok(await client.call_tool("get_desktop_flow_run_outputs", {"run_id": run_id}))
        assert outputs["outputs"] == done["outputs"]

        failing = ok(await client.call_tool("run_desktop_flow", {"flow": FAILING_FLOW}))
        await emulator.advance(60)
        failed = ok(await client.call_tool("get_desktop_flow_run", {"run_id": failing["run_id"]}))
        assert failed["status"] == "Failed"
        assert failed["error"]["code"] == "NoCandidateMachine"
        assert "machine" in failed["error"]["hint"]

        queued = ok(await client.call_tool("run_desktop_flow", {"flow": INVOICE_FLOW, "inputs": inputs}))
        cancelled = ok(await client.call_tool("cancel_desktop_flow_run", {"run_id": queued["run_id"]}))
        assert cancelled == {"run_id": queued["run_id"], "cancelled": True, "status": "Cancelled"}
        again = error_of(await client.call_tool("cancel_desktop_flow_run", {"run_id": queued["run_id"]}))
        assert again["code"] == "conflict"

        history = ok(await client.call_tool("list_desktop_flow_runs", {"flow": INVOICE_FLOW, "limit": 3}))
        assert history["runs"][0]["run_id"] == queued["run_id"]
        assert history["next_cursor"]

        access = ok(await client.call_tool("check_access", {}))
        assert access["all_ok"] is True
        assert access["identity"]["name"] == "Avery Demo (emulator)"
        assert [probe["ok"] for probe in access["probes"]] == [True] * len(access["probes"])
        environments = ok(await client.call_tool("list_environments", {}))
        assert [env["url"] for env in environments["environments"]] == [url]


async def test_a_run_only_identity_can_start_runs_but_not_read_others() -> None:
    async with emulator_on_loopback() as (_, url):
        async with server_over_stdio(url) as owner:
            history = ok(await owner.call_tool("list_desktop_flow_runs", {"limit": 1}))["runs"]
        async with server_over_stdio(url, token=RUN_ONLY_TOKEN) as run_only:
            denied = error_of(await run_only.call_tool("get_desktop_flow_run", {"run_id": history[0]["run_id"]}))
            started = ok(await run_only.call_tool("run_desktop_flow", {"flow": "Print shipping labels"}))
    assert denied["code"] == "permission_denied"
    assert denied["http_status"] == 403
    assert denied["dataverse_code"] == "0x80040220"
    assert "Owner" in denied["hint"]
    assert started["run_id"]


async def test_throttling_and_faults_end_in_the_right_code_and_the_server_keeps_serving() -> None:
    async with emulator_on_loopback() as (emulator, url), server_over_stdio(url) as client:

        async def still_serving() -> None:
            assert ok(await client.call_tool("list_desktop_flows", {"limit": 1}))["flows"]

        # A 429 with a short Retry-After is waited out and the run goes through once.
        emulator.faults.add(RUN_PATH, method="POST", status=429, code="0x80072322", retry_after=1)
        before = emulator.request_count
        run = ok(await client.call_tool("run_desktop_flow", {"flow": "Print shipping labels"}))
        assert run["run_id"]
        runs = ok(await client.call_tool("list_desktop_flow_runs", {"flow": "Print shipping labels", "limit": 5}))
        assert [r["run_id"] for r in runs["runs"]].count(run["run_id"]) == 1
        assert emulator.request_count > before

        # 5xx on a read: retried until it gives up, then dataverse_unavailable.
        emulator.faults.add(r"/flowsessions", method="GET", times=4, status=503)
        error = error_of(await client.call_tool("list_desktop_flow_runs", {}))
        assert (error["code"], error["retryable"]) == ("dataverse_unavailable", True)
        await still_serving()

        # 5xx on RunDesktopFlow: never retried, the hint says how to check.
        emulator.faults.add(RUN_PATH, method="POST", status=500)
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": "Print shipping labels"}))
        assert (error["code"], error["retryable"]) == ("dataverse_unavailable", False)
        assert "list_desktop_flow_runs" in error["hint"]
        await still_serving()

        # A dropped connection on RunDesktopFlow may have started a run: not retried either.
        emulator.faults.add(RUN_PATH, method="POST", body="drop")
        error = error_of(await client.call_tool("run_desktop_flow", {"flow": "Print shipping labels"}))
        assert error["code"] == "dataverse_unavailable" and error["retryable"] is False
        await still_serving()

        # Malformed JSON on a success: internal. An HTML error page: the status decides, not the page.
        emulator.faults.add(r"/workflows$", method="GET", status=200, body="malformed_json")
        assert error_of(await client.call_tool("list_desktop_flows", {}))["code"] == "internal"
        emulator.faults.add(r"/WhoAmI|/workflows$", method="GET", status=403, body="html")
        error = error_of(await client.call_tool("list_desktop_flows", {}))
        assert error["code"] == "permission_denied" and "HTML" in error["message"]
        await still_serving()

        # Throttled reads recover after Retry-After; 404 code maps to not_found.
        emulator.faults.add(r"/workflows$", method="GET", status=429, code="0x80072322", retry_after=1)
        await still_serving()
        missing = "00000000-0000-0000-0000-000000000001"
        assert error_of(await client.call_tool("get_desktop_flow_run", {"run_id": missing}))["code"] == "not_found"
