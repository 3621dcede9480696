"""A person approves before a run starts or is cancelled (DESKTOP_FLOWS_APPROVAL), end to end over the emulator on
fake time, in both protocol eras: asked through the client's form elicitation, or answered with a preview and a
single-use confirm_token; never a request to Dataverse's RunDesktopFlow or cancel before a yes."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitResult, ErrorData, InputRequiredResult
from mcp_types import InputResponses

from desktop_flows_mcp.app import App
from desktop_flows_mcp.config import HttpSettings, Secret, Settings
from desktop_flows_mcp.emulator import Emulator
from desktop_flows_mcp.server import build_server
from desktop_flows_mcp.streamable_http import build_http_app
from tests.helpers import FakeClock, compact_size, error_of, ok
from tests.loopback import serving_on_loopback
from tests.stacks import (
    ERAS,
    INVOICE_ARGS,
    INVOICE_FLOW,
    INVOICE_INPUTS,
    INVOICE_TOOL,
    CountingTransport,
    Stack,
    flow_stack,
    full_stack,
)
from tests.tasks_client import TasksClient, cancel_task, start_task

pytestmark = pytest.mark.anyio
RUN_POST = "POST Microsoft.Dynamics.CRM.RunDesktopFlow"
CANCEL_POST = "POST Microsoft.Dynamics.CRM.CancelDesktopFlowRun"
APPROVE = {"DESKTOP_FLOWS_APPROVAL": "runs"}
RUN = {"flow": INVOICE_FLOW, "inputs": INVOICE_INPUTS}
AUDIT = "desktop_flows_mcp.audit"


class Person:
    """The elicitation callback: answers each question as told, and keeps what it was shown."""

    def __init__(self, answer: str = "accept", approve: bool = True) -> None:
        self.answer, self.approve = answer, approve
        self.asked: list[ElicitRequestFormParams] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params)
        content = {"approve": self.approve} if self.answer == "accept" else None
        return ElicitResult(action=self.answer, content=content)  # type: ignore[arg-type]


@asynccontextmanager
async def stack(mode: str, person: Person | None = None, **env: str) -> AsyncGenerator[Stack, None]:
    options = {"elicitation_callback": person} if person is not None else None
    async with full_stack(mode, env={**APPROVE, **env}, client_options=options) as s:
        yield s


def writes(s: Stack) -> list[str]:
    return [p for p in s.wire.paths() if p in (RUN_POST, CANCEL_POST)]


async def required(s: Stack, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    error = error_of(await s.call(tool, arguments))
    assert error["code"] == "approval_required" and error["retryable"] is False
    return error["approval"]


# --- tools/list -------------------------------------------------------------------------------------------------


async def test_confirm_token_and_its_sentence_appear_in_run_and_cancel_only_when_approval_is_configured() -> None:
    async with full_stack("auto") as plain, stack("auto") as approving:
        off = {t.name: t for t in (await plain.client.list_tools()).tools}
        on = {t.name: t for t in (await approving.client.list_tools()).tools}
    for name in ("run_desktop_flow", "cancel_desktop_flow_run"):
        assert "confirm_token" not in off[name].input_schema["properties"]
        assert "confirm_token" not in (off[name].description or "")
        assert on[name].input_schema["properties"]["confirm_token"] == {
            "type": "string",
            "maxLength": 64,
            "description": "From approval_required, once the person agreed.",
        }
        assert (on[name].description or "").endswith(
            " Needs a person's approval: show them approval_required's preview; only after they agree, call again "
            "with its confirm_token."
        )
    assert {n for n, t in on.items() if "confirm_token" in t.input_schema["properties"]} == {
        "run_desktop_flow",
        "cancel_desktop_flow_run",
    }
    added = sum(compact_size(on[n].model_dump(mode="json", by_alias=True, exclude_none=True)) for n in on) - sum(
        compact_size(off[n].model_dump(mode="json", by_alias=True, exclude_none=True)) for n in off
    )
    assert 0 < added < 700  # what approval costs tools/list, paid only when it is on


async def test_without_approval_a_confirm_token_is_an_unknown_argument() -> None:
    async with full_stack("auto") as s:
        error = error_of(await s.call("run_desktop_flow", {**RUN, "confirm_token": "x" * 32}))
    assert error["code"] == "invalid_argument" and "no argument 'confirm_token'" in error["message"]
    assert writes(s) == []


# --- a client that asks its person --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_a_person_who_approves_sees_the_run_first_and_the_run_starts_as_it_would_have(mode: str) -> None:
    person = Person()
    async with stack(mode, person) as s:
        started = ok(await s.call("run_desktop_flow", RUN))
    assert started["status"] == "Waiting" and started["run_id"]
    assert writes(s) == [RUN_POST]
    [question] = person.asked
    assert question.message == (
        "Run desktop flow 'Enter invoices into legacy ERP'?\n"
        "Connection: shared-uiflow-7f3c1a (connection)\n"
        "Run mode: attended (takes over the signed-in user's desktop)\n"
        "Priority: normal\n"
        "Inputs:\n"
        '  InvoiceNumber: "INV-1"\n'
        '  VendorId: "V-9"\n'
        "  Amount: 12.5\n"
        '  Currency: "EUR"\n'
        "Run it?"
    )
    assert question.requested_schema["properties"]["approve"]["type"] == "boolean"


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(("answer", "approve"), [("decline", True), ("cancel", True), ("accept", False)])
async def test_a_person_who_declines_or_cancels_starts_nothing(mode: str, answer: str, approve: bool) -> None:
    async with stack(mode, Person(answer, approve)) as s:
        error = error_of(await s.call("run_desktop_flow", RUN))
    assert error["code"] == "approval_declined" and error["retryable"] is False
    assert "nothing was sent" in error["message"]
    assert writes(s) == []


@pytest.mark.parametrize("mode", ERAS)
async def test_invalid_inputs_are_refused_before_anyone_is_asked(mode: str) -> None:
    person = Person()
    async with stack(mode, person) as s:
        error = error_of(await s.call("run_desktop_flow", {**RUN, "inputs": {"Amount": "twelve"}}))
    assert error["code"] == "invalid_argument"
    assert person.asked == [] and writes(s) == []


# --- no elicitation: preview and confirm_token -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_without_elicitation_the_preview_and_a_token_come_back_and_the_token_runs_it_once(mode: str) -> None:
    async with stack(mode) as s:
        approval = await required(s, "run_desktop_flow", RUN)
        assert writes(s) == []
        started = ok(await s.call("run_desktop_flow", {**RUN, "confirm_token": approval["confirm_token"]}))
        replay = error_of(await s.call("run_desktop_flow", {**RUN, "confirm_token": approval["confirm_token"]}))
    assert approval["preview"] == {
        "action": "run",
        "flow": INVOICE_FLOW,
        "flow_id": "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14",
        "run_mode": "attended",
        "connection": "shared-uiflow-7f3c1a",
        "connection_type": "connection",
        "run_priority": "normal",
        "inputs": INVOICE_INPUTS,
    }
    assert approval["expires_in_seconds"] == 300 and len(approval["confirm_token"]) >= 22  # ≥ 128 random bits
    assert started["status"] == "Waiting"
    assert replay["code"] == "approval_invalid" and "already used" in replay["message"]
    assert writes(s) == [RUN_POST]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(
    "changed",
    [
        {"inputs": {**INVOICE_INPUTS, "Amount": 1250.0}},
        {"run_priority": "high"},
        {"run_mode": "unattended"},
        {"flow": "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"},  # the same flow by id: still other arguments
    ],
    ids=["input", "priority", "run-mode", "flow-by-id"],
)
async def test_a_token_for_other_arguments_is_invalid_and_used_up(mode: str, changed: dict[str, Any]) -> None:
    async with stack(mode) as s:
        token = (await required(s, "run_desktop_flow", RUN))["confirm_token"]
        other = error_of(await s.call("run_desktop_flow", {**RUN, **changed, "confirm_token": token}))
        again = error_of(await s.call("run_desktop_flow", {**RUN, "confirm_token": token}))
    assert other["code"] == "approval_invalid" and "other arguments" in other["message"]
    assert again["code"] == "approval_invalid"
    assert writes(s) == []


@pytest.mark.parametrize("mode", ERAS)
async def test_an_explicit_default_is_the_same_call_and_the_token_fits(mode: str) -> None:
    async with stack(mode) as s:
        token = (await required(s, "run_desktop_flow", RUN))["confirm_token"]
        ok(await s.call("run_desktop_flow", {**RUN, "run_priority": "normal", "confirm_token": token}))
    assert writes(s) == [RUN_POST]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_token_expires_after_five_minutes_on_the_servers_clock(mode: str) -> None:
    async with stack(mode) as s:
        token = (await required(s, "run_desktop_flow", RUN))["confirm_token"]
        await s.clock.sleep(299)
        fresh = (await required(s, "run_desktop_flow", RUN))["confirm_token"]
        await s.clock.sleep(1)
        expired = error_of(await s.call("run_desktop_flow", {**RUN, "confirm_token": token}))
        ok(await s.call("run_desktop_flow", {**RUN, "confirm_token": fresh}))
    assert expired["code"] == "approval_invalid" and "expired" in expired["message"]
    assert writes(s) == [RUN_POST]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_made_up_token_is_invalid(mode: str) -> None:
    async with stack(mode) as s:
        error = error_of(await s.call("run_desktop_flow", {**RUN, "confirm_token": "A" * 32}))
    assert error["code"] == "approval_invalid" and "unknown" in error["message"]
    assert writes(s) == []


# --- idempotency: asked once per key ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_a_retry_of_an_approved_key_is_not_asked_again_and_returns_the_same_run(mode: str) -> None:
    person = Person()
    keyed = {**RUN, "idempotency_key": "invoice-INV-1"}
    async with stack(mode, person) as s:
        first = ok(await s.call("run_desktop_flow", keyed))
        again = ok(await s.call("run_desktop_flow", keyed))
    assert len(person.asked) == 1
    assert again["run_id"] == first["run_id"] and again["reused"] is True
    assert writes(s) == [RUN_POST]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_keyed_retry_with_its_used_token_returns_the_run_rather_than_approval_invalid(mode: str) -> None:
    keyed = {**RUN, "idempotency_key": "invoice-INV-1"}
    async with stack(mode) as s:
        token = (await required(s, "run_desktop_flow", keyed))["confirm_token"]
        first = ok(await s.call("run_desktop_flow", {**keyed, "confirm_token": token}))
        again = ok(await s.call("run_desktop_flow", {**keyed, "confirm_token": token}))
    assert again["run_id"] == first["run_id"] and again["reused"] is True
    assert writes(s) == [RUN_POST]


async def test_an_approved_key_whose_start_was_refused_is_not_asked_again() -> None:
    person = Person()
    keyed = {**RUN, "idempotency_key": "k-1", "connection_name": "no-such-connection"}
    async with stack("auto", person) as s:
        refused = error_of(await s.call("run_desktop_flow", keyed))
        again = error_of(await s.call("run_desktop_flow", keyed))
    assert refused["code"] == again["code"] != "approval_declined"
    assert len(person.asked) == 1


# --- policy: which starts and cancels ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_a_list_of_flows_asks_only_for_those(mode: str) -> None:
    async with stack(mode, DESKTOP_FLOWS_APPROVAL="sap vendor lookup, " + INVOICE_FLOW.upper()) as s:
        await required(s, "run_desktop_flow", RUN)
        ok(await s.call("run_desktop_flow", {"flow": "Download monthly sales report", "inputs": {}}))
    assert writes(s) == [RUN_POST]


@pytest.mark.parametrize("mode", ERAS)
async def test_attended_only_asks_for_attended_runs(mode: str) -> None:
    async with stack(mode, DESKTOP_FLOWS_APPROVAL="none", DESKTOP_FLOWS_APPROVAL_ATTENDED="true") as s:
        ok(await s.call("run_desktop_flow", {**RUN, "run_mode": "unattended"}))
        preview = (await required(s, "run_desktop_flow", RUN))["preview"]
    assert preview["run_mode"] == "attended"
    assert writes(s) == [RUN_POST]


async def test_read_only_needs_no_approval_and_offers_no_confirm_token() -> None:
    async with stack("auto", DESKTOP_FLOWS_READ_ONLY="true") as s:
        tools = {t.name: t for t in (await s.client.list_tools()).tools}
        instructions = s.client.instructions or ""
    assert "run_desktop_flow" not in tools and "cancel_desktop_flow_run" not in tools
    assert all("confirm_token" not in t.input_schema.get("properties", {}) for t in tools.values())
    assert "approval_required" not in instructions


# --- cancel ------------------------------------------------------------------------------------------------------


async def started_run(s: Stack) -> str:
    token = (await required(s, "run_desktop_flow", RUN))["confirm_token"]
    return ok(await s.call("run_desktop_flow", {**RUN, "confirm_token": token}))["run_id"]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_cancel_is_approved_with_its_own_token(mode: str) -> None:
    async with stack(mode) as s:
        run_id = await started_run(s)
        approval = await required(s, "cancel_desktop_flow_run", {"run_id": run_id})
        assert writes(s) == [RUN_POST]
        cancelled = ok(
            await s.call("cancel_desktop_flow_run", {"run_id": run_id, "confirm_token": approval["confirm_token"]})
        )
    assert approval["preview"] == {
        "action": "cancel",
        "flow": INVOICE_FLOW,
        "flow_id": "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14",
        "run_mode": "attended",
        "run_id": run_id,
        "status": "Waiting",
    }
    assert cancelled["cancelled"] is True
    assert writes(s) == [RUN_POST, CANCEL_POST]


@pytest.mark.parametrize("mode", ERAS)
async def test_a_cancel_asks_the_person_and_a_no_stops_nothing(mode: str) -> None:
    person = Person("decline")
    async with stack(mode, person) as s:
        person.answer = "accept"
        run_id = ok(await s.call("run_desktop_flow", RUN))["run_id"]
        person.answer = "decline"
        error = error_of(await s.call("cancel_desktop_flow_run", {"run_id": run_id}))
    assert error["code"] == "approval_declined"
    assert person.asked[-1].message.startswith(f"Cancel run {run_id} of desktop flow '{INVOICE_FLOW}' (now Waiting")
    assert writes(s) == [RUN_POST]


async def test_a_token_for_a_run_start_does_not_cancel() -> None:
    async with stack("auto") as s:
        run_id = await started_run(s)
        token = (await required(s, "run_desktop_flow", RUN))["confirm_token"]
        error = error_of(await s.call("cancel_desktop_flow_run", {"run_id": run_id, "confirm_token": token}))
    assert error["code"] == "approval_invalid"
    assert writes(s) == [RUN_POST]


# --- per-flow tools -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_a_per_flow_tool_takes_its_confirm_token_in_run_options(mode: str) -> None:
    async with flow_stack(mode, **APPROVE) as s:
        schema = (await s.tools())[INVOICE_TOOL]["inputSchema"]
        approval = await required(s, INVOICE_TOOL, INVOICE_ARGS)
        token = approval["confirm_token"]
        started = ok(await s.call(INVOICE_TOOL, {**INVOICE_ARGS, "run_options": {"confirm_token": token}}))
    assert schema["properties"]["run_options"]["properties"]["confirm_token"] == {"type": "string"}
    assert approval["preview"]["flow"] == INVOICE_FLOW and approval["preview"]["inputs"] == INVOICE_ARGS
    assert started["run_id"]
    assert [p for p in s.wire.paths() if p == RUN_POST] == [RUN_POST]


async def test_per_flow_tools_without_approval_have_no_confirm_token() -> None:
    async with flow_stack("auto") as s:
        schema = (await s.tools())[INVOICE_TOOL]["inputSchema"]
    assert "confirm_token" not in schema["properties"]["run_options"]["properties"]


async def test_a_per_flow_tool_asks_the_person_too() -> None:
    async with flow_stack("legacy", **APPROVE) as s:
        error = error_of(await s.call(INVOICE_TOOL, {**INVOICE_ARGS, "run_options": {"confirm_token": "B" * 32}}))
    assert error["code"] == "approval_invalid"
    assert RUN_POST not in s.wire.paths()


# --- tasks (2026-07-28) ------------------------------------------------------------------------------------------


@asynccontextmanager
async def tasks_client(
    person: Person | None = None,
) -> AsyncGenerator[tuple[Client, CountingTransport, TasksClient], None]:
    clock = FakeClock()
    wire = CountingTransport(Emulator(clock=clock).transport())
    app = App(Settings.from_env(APPROVE), clock=clock, dataverse_transport=wire)
    options: dict[str, Any] = {"elicitation_callback": person} if person else {}
    tasks = TasksClient(clock.sleep)
    async with Client(build_server(app), mode="auto", extensions=[tasks], raise_exceptions=True, **options) as c:
        yield c, wire, tasks


async def test_with_tasks_an_unapproved_run_creates_no_task_and_a_token_then_does() -> None:
    async with tasks_client() as (client, wire, _):
        refused = await start_task(client, "run_desktop_flow", RUN)
        token = refused["structuredContent"]["error"]["approval"]["confirm_token"]
        created = await start_task(client, "run_desktop_flow", {**RUN, "confirm_token": token})
        with pytest.raises(Exception, match="tasks/cancel cannot ask"):
            await cancel_task(client.session, created["taskId"])
    assert refused["isError"] is True and refused.get("resultType") != "task"
    assert created["resultType"] == "task"
    assert wire.paths().count(RUN_POST) == 1 and CANCEL_POST not in wire.paths()


@pytest.mark.parametrize(("answer", "tasks"), [("accept", 1), ("decline", 0)])
async def test_with_tasks_the_person_is_asked_before_the_task_exists(answer: str, tasks: int) -> None:
    person = Person(answer)
    async with tasks_client(person) as (client, wire, tasks_seen):
        result = await client.call_tool("run_desktop_flow", RUN)  # the SDK answers input_required, then polls
    assert len(person.asked) == 1
    assert len(tasks_seen.created) == tasks
    assert result.is_error is (tasks == 0)
    assert wire.paths().count(RUN_POST) == tasks


# --- audit ----------------------------------------------------------------------------------------------------


async def test_one_audit_line_for_the_question_and_one_for_the_decision_and_never_a_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT)
    secret_inputs = {**INVOICE_INPUTS, "InvoiceNumber": "SECRET-INV-77"}
    async with stack("auto") as s:
        token = (await required(s, "run_desktop_flow", {**RUN, "inputs": secret_inputs}))["confirm_token"]
        ok(await s.call("run_desktop_flow", {**RUN, "inputs": secret_inputs, "confirm_token": token}))
        await s.call("run_desktop_flow", {**RUN, "inputs": secret_inputs, "confirm_token": token})
    lines = [r for r in caplog.records if r.name == AUDIT and r.getMessage().startswith("approval")]
    assert [r.__dict__["outcome"] for r in lines] == [
        "approval_requested",
        "approval_approved",
        "approval_unknown",
    ]
    assert {r.__dict__["caller"] for r in lines} == {"local"}
    assert {r.__dict__["tool"] for r in lines} == {"run_desktop_flow"}
    assert {r.__dict__["flow"] for r in lines} == {"3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"}
    hashes = {r.getMessage().rsplit("args=", 1)[1] for r in lines}
    assert len(hashes) == 1 and len(hashes.pop()) == 16
    assert "SECRET-INV-77" not in caplog.text and token not in caplog.text
    refusals = [r.getMessage() for r in caplog.records if r.name == AUDIT and "refused" in r.getMessage()]
    assert refusals == []  # approval outcomes are the approval lines, not a second "refused" line


async def test_the_approval_error_envelope_is_compact_json_in_both_channels() -> None:
    async with stack("auto") as s:
        result = await s.call("run_desktop_flow", RUN)
    body = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert body == result.structured_content and set(body["error"]["approval"]) == {
        "preview",
        "confirm_token",
        "expires_in_seconds",
    }


# --- over Streamable HTTP -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_over_http_the_person_is_asked_and_without_elicitation_a_token_fits_the_same_caller(mode: str) -> None:
    token = "approval-http-token-for-tests"
    app = App(Settings.from_env(APPROVE), clock=FakeClock())
    person = Person()
    headers = {"Authorization": f"Bearer {token}"}
    async with serving_on_loopback(build_http_app(build_server(app), app, HttpSettings(token=Secret(token)))) as base:
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(
                streamable_http_client(f"{base}/mcp", http_client=http), mode=mode, elicitation_callback=person
            ) as c,
        ):
            asked = ok(await c.call_tool("run_desktop_flow", RUN))
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as c,
        ):
            approval = error_of(await c.call_tool("run_desktop_flow", RUN))["approval"]
            confirmed = ok(await c.call_tool("run_desktop_flow", {**RUN, "confirm_token": approval["confirm_token"]}))
    assert len(person.asked) == 1 and asked["run_id"]
    assert confirmed["run_id"] and confirmed["run_id"] != asked["run_id"]


async def test_a_replayed_answer_of_the_2026_era_asks_again_and_never_starts_a_second_run() -> None:
    async with stack("auto", Person()) as s:  # a client that shows forms; this test answers by hand
        asked = await s.client.session.call_tool("run_desktop_flow", RUN, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult) and asked.request_state
        yes: InputResponses = {"approval": ElicitResult(action="accept", content={"approve": True})}
        first = await s.client.session.call_tool(
            "run_desktop_flow", RUN, input_responses=yes, request_state=asked.request_state
        )
        replay = await s.client.session.call_tool(
            "run_desktop_flow", RUN, input_responses=yes, request_state=asked.request_state, allow_input_required=True
        )
        with pytest.raises(MCPError, match="requestState"):  # the SDK binds the sealed state to the arguments
            await s.client.session.call_tool(
                "run_desktop_flow",
                {**RUN, "run_priority": "high"},
                input_responses=yes,
                request_state=asked.request_state,
            )
    assert isinstance(first, CallToolResult) and not first.is_error
    assert isinstance(replay, InputRequiredResult)  # the ticket was used: the person is asked again
    assert writes(s) == [RUN_POST]


async def test_a_client_that_fails_to_ask_its_person_is_a_no() -> None:
    async def broken(context: Any, params: Any) -> ErrorData:
        return ErrorData(code=-32603, message="the form could not be shown")

    async with full_stack("legacy", env=APPROVE, client_options={"elicitation_callback": broken}) as s:
        error = error_of(await s.call("run_desktop_flow", RUN))
    assert error["code"] == "approval_declined"
    assert writes(s) == []
