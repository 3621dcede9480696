"""Nothing lost, nothing duplicated: what a retry with the same idempotency_key does after a start whose outcome
was unknown (see adoption.py for the algorithm), and that a started run's id always comes back.

The server talks to the real emulator; a transport in between loses the answer to chosen run starts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from desktop_flows_mcp.adoption import HORIZON_SECONDS
from tests.helpers import error_of, ok
from tests.stacks import INVOICE_FLOW, INVOICE_INPUTS, full_stack

pytestmark = pytest.mark.anyio
RUN = "Microsoft.Dynamics.CRM.RunDesktopFlow"


class LosesAnswers(httpx.AsyncBaseTransport):
    """Run starts listed in ``plan``: "processed" (the run starts, the answer is a 503), "refused" (a 503, no run)
    or "ok"; everything else passes through."""

    def __init__(self, inner: httpx.AsyncBaseTransport, plan: list[str]) -> None:
        self.inner, self.plan = inner, plan

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(RUN) and self.plan:
            step = self.plan.pop(0)
            if step == "refused":
                return httpx.Response(503, json={"error": {"code": "0x80040216", "message": "Unexpected"}})
            if step == "processed":
                response = await self.inner.handle_async_request(request)
                await response.aread()
                return httpx.Response(503, json={"error": {"code": "0x80040216", "message": "Gateway lost it"}})
        return await self.inner.handle_async_request(request)


def run_args(key: str | None, **inputs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"flow": INVOICE_FLOW, "inputs": {**INVOICE_INPUTS, **inputs}}
    return args | ({"idempotency_key": key} if key else {})


def lossy(plan: list[str]) -> Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]:
    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return LosesAnswers(inner, plan)

    return wrap


async def runs_in_emulator(stack: Any) -> int:
    return len([r for r in stack.emulator.store.runs.values() if r.workflow_id.startswith("3a1f5c2e")])


async def test_a_retry_adopts_the_run_an_uncertain_start_made_and_sends_no_second_start() -> None:
    async with full_stack(wrap=lossy(["processed"])) as stack:
        before = await runs_in_emulator(stack)
        first = error_of(await stack.call("run_desktop_flow", run_args("k1")))
        second = ok(await stack.call("run_desktop_flow", run_args("k1")))
        after = await runs_in_emulator(stack)
    assert first["code"] == "dataverse_unavailable" and first["retryable"] is True  # the key makes a retry safe
    assert "same idempotency_key" in first["hint"] and "run_id" not in first
    assert second["reused"] is True and second["run_id"]
    assert after == before + 1
    assert stack.wire.paths().count(f"POST {RUN}") == 1


async def test_a_retry_starts_the_run_once_only_after_the_horizon_when_the_uncertain_start_made_none() -> None:
    async with full_stack(wrap=lossy(["refused"])) as stack:
        before = await runs_in_emulator(stack)
        error_of(await stack.call("run_desktop_flow", run_args("k2")))
        waiting = error_of(await stack.call("run_desktop_flow", run_args("k2")))
        await stack.clock.sleep(HORIZON_SECONDS)
        second = ok(await stack.call("run_desktop_flow", run_args("k2")))
        third = ok(await stack.call("run_desktop_flow", run_args("k2")))
        after = await runs_in_emulator(stack)
    assert waiting["code"] == "run_status_unknown" and "run_id" not in waiting
    assert second["reused"] is False and third["reused"] is True and third["run_id"] == second["run_id"]
    assert after == before + 1
    assert stack.wire.paths().count(f"POST {RUN}") == 2  # the refused one, and the one that started the run


async def test_another_keys_run_with_the_same_inputs_is_never_adopted() -> None:
    async with full_stack(wrap=lossy(["ok", "refused"])) as stack:
        other = ok(await stack.call("run_desktop_flow", run_args("key-a")))
        error_of(await stack.call("run_desktop_flow", run_args("key-b")))
        await stack.clock.sleep(HORIZON_SECONDS)
        mine = ok(await stack.call("run_desktop_flow", run_args("key-b")))
    assert mine["run_id"] != other["run_id"] and mine["reused"] is False


async def test_a_run_with_other_inputs_in_the_window_is_not_adopted() -> None:
    async with full_stack(wrap=lossy(["ok", "refused"])) as stack:
        unrelated = ok(await stack.call("run_desktop_flow", run_args(None, InvoiceNumber="INV-OTHER")))
        error_of(await stack.call("run_desktop_flow", run_args("k3")))
        await stack.clock.sleep(HORIZON_SECONDS)
        mine = ok(await stack.call("run_desktop_flow", run_args("k3")))
    assert mine["run_id"] != unrelated["run_id"] and mine["reused"] is False


async def test_a_look_alike_without_the_marker_is_never_adopted_even_beside_the_proven_run() -> None:
    async with full_stack(wrap=lossy(["ok", "processed"])) as stack:
        unkeyed = ok(await stack.call("run_desktop_flow", run_args(None)))
        error_of(await stack.call("run_desktop_flow", run_args("k4")))
        posts = stack.wire.paths().count(f"POST {RUN}")
        mine = ok(await stack.call("run_desktop_flow", run_args("k4")))
    assert mine["reused"] is True and mine["run_id"] != unkeyed["run_id"]
    assert stack.wire.paths().count(f"POST {RUN}") == posts


async def test_a_status_read_failing_after_the_start_still_returns_the_run_id_not_a_retryable_error() -> None:
    class StatusDown(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and "/flowsessions(" in request.url.path:
                return httpx.Response(503, json={"error": {"code": "0x80040216", "message": "Unavailable"}})
            return await self.inner.handle_async_request(request)

    async with full_stack(wrap=StatusDown) as stack:
        result = ok(await stack.call("run_desktop_flow", run_args(None) | {"wait_seconds": 30}))
    assert result["run_id"] and result["status"] == "Unknown"
    assert "dataverse_unavailable" in result["warning"]
    assert "get_desktop_flow_run" in result["hint"] and "do not start it again" in result["hint"]
    assert stack.wire.paths().count(f"POST {RUN}") == 1


async def test_a_retry_finds_its_run_beyond_the_first_page_of_a_burst_and_starts_none() -> None:
    """A burst of runs fills more than one page of the adoption window: every page is read, so the run the uncertain
    start made is adopted, not left behind unanswered while a second one starts (or is refused as throttled)."""
    async with full_stack(wrap=lossy(["processed"])) as stack:
        store = stack.emulator.store
        before = set(store.runs)
        error_of(await stack.call("run_desktop_flow", run_args("k5")))
        (made,) = (run for run in store.runs.values() if run.id not in before)
        for number in range(150):  # newer runs of the same flow, identity and connection, other inputs
            inputs = {**made.inputs, "InvoiceNumber": f"INV-B{number}"}
            other = replace(made, id=str(uuid.uuid4()), inputs=inputs, inputs_text=json.dumps(inputs))
            store.runs[other.id] = replace(other, created_at=made.created_at + 1)
        again = ok(await stack.call("run_desktop_flow", run_args("k5")))
    assert again["run_id"] == made.id and again["reused"] is True
    assert stack.wire.paths().count(f"POST {RUN}") == 1
    assert stack.wire.paths().count("GET flowsessions") >= 2  # the window's second page was read


async def test_the_marker_is_read_also_from_inputs_stored_json_encoded_once_more() -> None:
    async with full_stack(wrap=lossy(["processed"])) as stack:
        store = stack.emulator.store
        before = set(store.runs)
        error_of(await stack.call("run_desktop_flow", run_args("k6")))
        (made,) = (run for run in store.runs.values() if run.id not in before)
        made.inputs_text = json.dumps(made.inputs_text)  # the file holds the string, JSON-encoded
        again = ok(await stack.call("run_desktop_flow", run_args("k6")))
    assert again["run_id"] == made.id and again["reused"] is True
