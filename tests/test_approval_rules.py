"""The approval rules below the tools: the policy as configured, what a preview shows (and hides), and the gate's
binding of a confirm_token to one caller, tool and argument hash."""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import pytest

from desktop_flows_mcp.approval import ApprovalCall, ApprovalGate, InProcessApprovals, approval_call, start_preview
from desktop_flows_mcp.approval.preview import MASKED, cancel_preview, looks_secret, secret_inputs
from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.config.approval import ApprovalPolicy
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from tests.helpers import FakeClock
from tests.processes import run_cli

FLOW_ID = "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"


def policy(**env: str) -> ApprovalPolicy:
    return Settings.from_env(env).run.approval


def test_approval_is_off_by_default_and_none_is_off() -> None:
    assert policy() == policy(DESKTOP_FLOWS_APPROVAL="none") == ApprovalPolicy()
    assert not policy().configured


def test_runs_covers_every_start_and_a_list_only_its_flows_by_id_or_name_in_any_case() -> None:
    assert policy(DESKTOP_FLOWS_APPROVAL="RUNS").covers("x", "y", "unattended")
    listed = policy(DESKTOP_FLOWS_APPROVAL=f"Invoice Entry , {FLOW_ID.upper()}")
    assert listed.mode == "flows" and listed.configured
    assert listed.covers(None, "invoice entry", "unattended")
    assert listed.covers(FLOW_ID, "renamed", None)
    assert not listed.covers("other", "Other flow", "attended")


def test_attended_adds_every_attended_run_to_the_policy() -> None:
    attended = policy(DESKTOP_FLOWS_APPROVAL_ATTENDED="true")
    assert attended.configured and attended.mode == "none"
    assert attended.covers(None, None, "attended") and not attended.covers(None, None, "unattended")
    both = policy(DESKTOP_FLOWS_APPROVAL="Invoice entry", DESKTOP_FLOWS_APPROVAL_ATTENDED="yes")
    assert both.covers(None, "Other", "attended") and both.covers(None, "invoice entry", "unattended")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DESKTOP_FLOWS_APPROVAL": " , ,"}, "DESKTOP_FLOWS_APPROVAL: is none, runs, or a comma list of flows"),
        ({"DESKTOP_FLOWS_APPROVAL": "runs,Invoice"}, "DESKTOP_FLOWS_APPROVAL: mixes 'runs' with flow names"),
        ({"DESKTOP_FLOWS_APPROVAL_ATTENDED": "maybe"}, "DESKTOP_FLOWS_APPROVAL_ATTENDED: must be true or false"),
    ],
)
def test_a_mistake_names_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(says)


@pytest.mark.slow
def test_a_bad_approval_flag_stops_start_up_with_one_line_and_exit_code_2() -> None:
    result = run_cli("--emulator", "--approval", "none,runs")
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("desktop-flows-mcp: --approval: mixes 'none' with flow names")


# --- the preview ---------------------------------------------------------------------------------------------------


def preview_inputs(inputs: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return start_preview(
        flow="Invoice entry",
        flow_id=FLOW_ID,
        connection="conn-1",
        connection_type="connection",
        run_mode="attended",
        run_priority="normal",
        inputs=inputs,
        schema_text=json.dumps(schema) if schema is not None else None,
    ).inputs


@pytest.mark.parametrize(
    "name", ["Password", "db_pwd", "ApiKey", "client_secret", "SasToken", "Credentials", "PIN", "private-key"]
)
def test_inputs_whose_names_say_secret_are_masked(name: str) -> None:
    assert looks_secret(name)
    assert preview_inputs({name: "hunter2", "Vendor": "V-9"}) == {name: MASKED, "Vendor": "V-9"}


@pytest.mark.parametrize("name", ["Keyboard", "Monkey", "Tokenizer", "Spinach", "Vendor"])
def test_ordinary_names_are_shown(name: str) -> None:
    assert not looks_secret(name)


@pytest.mark.parametrize(
    "marked",
    [{"format": "password"}, {"type": "SecureString"}, {"type": "text", "IsSensitive": True}, {"sensitive": "true"}],
)
def test_inputs_the_flows_schema_marks_secret_are_masked(marked: dict[str, Any]) -> None:
    schema = {"schema": {"type": "object", "properties": {"Login": marked, "Vendor": {"type": "text"}}}}
    assert secret_inputs(json.dumps(schema)) == {"Login"}
    assert preview_inputs({"Login": "ada", "Vendor": "V-9"}, schema) == {"Login": MASKED, "Vendor": "V-9"}


def test_values_are_cleaned_cut_scrubbed_and_nested_secrets_masked() -> None:
    shown = preview_inputs(
        {
            "Note": "line one\n\x1b[31mred\u202e",
            "Long": "x" * 500,
            "Header": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
            "Login": {"user": "ada", "password": "hunter2", "nested": [{"api_key": "k"}]},
            "Count": 3,
            "Flag": True,
        }
    )
    assert shown["Note"] == "line one [31mred"
    assert len(shown["Long"]) <= 200 and shown["Long"].endswith("...[cut, too long]")
    assert "eyJ" not in shown["Header"] and "[redacted]" in shown["Header"]
    assert shown["Login"] == '{"user":"ada","password":"[masked]","nested":[{"api_key":"[masked]"}]}'
    assert (shown["Count"], shown["Flag"]) == (3, True)


def test_many_inputs_are_listed_up_to_thirty_and_the_rest_counted() -> None:
    shown = preview_inputs({f"In{i}": i for i in range(45)})
    assert len(shown) == 31 and shown["..."] == "and 15 more inputs"


def test_a_flows_name_with_control_characters_is_shown_clean() -> None:
    preview = cancel_preview(run_id="r-1", flow="Evil\x07\u202eflow\n", flow_id=None, status="Running", run_mode=None)
    assert preview.flow == "Evilflow"
    assert preview.message().startswith("Cancel run r-1 of desktop flow 'Evilflow' (now Running, unknown mode)?")


# --- the gate ------------------------------------------------------------------------------------------------------


@contextmanager
def calling(
    caller: str, tool: str = "run_desktop_flow", token: str | None = None, **arguments: Any
) -> Generator[None, None, None]:
    reset = approval_call.set(ApprovalCall(caller, tool, arguments or {"flow": "x"}, token))
    try:
        yield
    finally:
        approval_call.reset(reset)


def gate(clock: FakeClock) -> ApprovalGate:
    return ApprovalGate(ApprovalPolicy("runs"), InProcessApprovals(clock))


PREVIEW = cancel_preview(run_id="r-1", flow="F", flow_id="f-1", status="Running", run_mode="attended")


async def issued(g: ApprovalGate, caller: str, **arguments: Any) -> str:
    with calling(caller, **arguments), pytest.raises(DesktopFlowsError) as caught:
        await g.approve(PREVIEW)
    assert caught.value.code is ErrorCode.APPROVAL_REQUIRED and caught.value.approval is not None
    return str(caught.value.approval["confirm_token"])


async def verdict(g: ApprovalGate, caller: str, token: str, tool: str = "run_desktop_flow", **arguments: Any) -> str:
    with calling(caller, tool, token, **arguments):
        try:
            await g.approve(PREVIEW)
        except DesktopFlowsError as error:
            return error.code.value
    return "approved"


@pytest.mark.anyio
async def test_a_token_fits_only_its_caller_and_tool_and_only_once() -> None:
    clock = FakeClock()
    g = gate(clock)
    assert await verdict(g, "entra:t/bob", await issued(g, "entra:t/ada")) == "approval_invalid"
    assert await verdict(g, "entra:t/ada", await issued(g, "entra:t/ada"), "cancel_desktop_flow_run") == (
        "approval_invalid"
    )
    token = await issued(g, "entra:t/ada")
    assert await verdict(g, "entra:t/ada", token) == "approved"
    assert await verdict(g, "entra:t/ada", token) == "approval_invalid"


@pytest.mark.anyio
async def test_argument_order_does_not_matter_but_every_value_does() -> None:
    g = gate(FakeClock())
    token = await issued(g, "local", flow="x", inputs={"a": 1, "b": [1, 2]})
    assert await verdict(g, "local", token, inputs={"b": [1, 2], "a": 1}, flow="x") == "approved"
    token = await issued(g, "local", flow="x", inputs={"a": 1})
    assert await verdict(g, "local", token, flow="x", inputs={"a": 1.5}) == "approval_invalid"


@pytest.mark.anyio
async def test_tokens_are_kept_only_as_hashes() -> None:
    store = InProcessApprovals(FakeClock())
    token = await store.issue("binding", expires_in=300)
    assert token not in repr(vars(store))


@pytest.mark.anyio
async def test_outside_a_tool_call_approval_cannot_be_asked() -> None:
    with pytest.raises(DesktopFlowsError) as caught:
        await gate(FakeClock()).approve(PREVIEW)
    assert caught.value.code is ErrorCode.APPROVAL_REQUIRED and "tasks/cancel cannot ask" in caught.value.message


@pytest.mark.anyio
async def test_old_tokens_are_forgotten_and_the_store_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop_flows_mcp.approval import store as approval_store

    clock = FakeClock()
    store = InProcessApprovals(clock)
    old = await store.issue("b", expires_in=300)
    clock.seconds += 300 + approval_store.KEPT_AFTER_EXPIRY + 1
    await store.issue("b", expires_in=300)  # sweeps the long-expired one
    assert await store.redeem(old, "b") == "unknown"
    monkeypatch.setattr(approval_store, "MAX_TOKENS", 2)
    first = await store.issue("b", expires_in=300)
    for _ in range(2):
        await store.issue("b", expires_in=300)
    assert await store.redeem(first, "b") == "unknown"  # at most 2 kept: the oldest went first


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]", '{"schema": {"properties": []}}'])
def test_a_schema_that_marks_nothing_readable_masks_nothing(text: str | None) -> None:
    assert secret_inputs(text) == frozenset()
