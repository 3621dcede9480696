"""Machine-authored text is data: machine and group names and action names from a hostile fleet come back
clean of control and bidi-override characters, capped, and with secrets-looking text redacted."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from desktop_flows_mcp.bounds import MAX_NAME
from desktop_flows_mcp.emulator import fleet
from tests.diagnosis.test_diagnose_tool import FLOW_ERROR, STUCK
from tests.helpers import ok
from tests.stacks import ERAS, full_stack

pytestmark = pytest.mark.anyio
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
NASTY = "\x1b]0;pwned\x07\u202e"
SECRETS = (
    "Sign in password=hunter2 client_secret=s3cr3t-value token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2ln"
    " DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=bWFnaWMta2V5LXZhbHVl==;EndpointSuffix=x"
)


@pytest.mark.parametrize("mode", ERAS)
async def test_machine_and_group_names_are_clean_and_capped(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    machines = list(fleet.MACHINES)
    stuck = next(i for i, m in enumerate(machines) if m.name == "WH-PC-07")
    machines[stuck] = dataclasses.replace(machines[stuck], name=NASTY + "WH-PC-07" + "x" * 10_000)
    groups = [dataclasses.replace(group, name=NASTY + group.name + "\r\n" * 300) for group in fleet.GROUPS]
    monkeypatch.setattr(fleet, "MACHINES", machines)
    monkeypatch.setattr(fleet, "GROUPS", groups)
    async with full_stack(mode) as stack:
        listed = ok(await stack.call("list_machines", {}))
        diagnosis = ok(await stack.call("diagnose_desktop_flow_run", {"run_id": STUCK}))
    names = [m["name"] for m in listed["machines"]] + [g["name"] for g in listed["groups"]]
    names += [m["group"] for m in listed["machines"] if "group" in m]
    assert all(len(name) <= MAX_NAME and not UNSAFE.search(name) for name in names)
    assert any(name.startswith("]0;pwnedWH-PC-07") for name in names)
    assert "]0;pwnedFinance bots" in names
    assert diagnosis["machine"]["name"].startswith("]0;pwnedWH-PC-07") and not UNSAFE.search(json.dumps(diagnosis))


@pytest.mark.parametrize("mode", ERAS)
async def test_action_names_are_clean_capped_and_redacted_like_action_errors(mode: str) -> None:
    async with full_stack(mode) as stack:
        rows = [row for _, row in stack.emulator.store.fleet.logs if row["_flowsessionid_value"] == FLOW_ERROR]
        for row in rows:
            data = json.loads(str(row["data"]))
            data["name"] = NASTY + SECRETS + "\n" + data["name"]
            data["error"] = NASTY + SECRETS if "error" in data else data.get("error")
            row["data"] = json.dumps(data)
        diagnosis = ok(await stack.call("diagnose_desktop_flow_run", {"run_id": FLOW_ERROR}))
    text = json.dumps(diagnosis, ensure_ascii=False)
    for secret in ("hunter2", "s3cr3t-value", "eyJhbGciOiJIUzI1NiJ9", "bWFnaWMta2V5LXZhbHVl"):
        assert secret not in text, secret
    assert not UNSAFE.search(text)
    names = [action["name"] for action in diagnosis["action_log"]["actions"]]
    assert names and all(len(name) <= MAX_NAME for name in names)
    assert names[-1].startswith("]0;pwnedSign in password=[redacted] client_secret=[redacted]")


@pytest.mark.parametrize("mode", ERAS)
async def test_an_action_log_entry_nested_too_deep_is_shown_as_capped_text(mode: str) -> None:
    async with full_stack(mode) as stack:
        rows = [row for _, row in stack.emulator.store.fleet.logs if row["_flowsessionid_value"] == FLOW_ERROR]
        max(rows, key=lambda row: str(row["createdon"]))["data"] = "[" * 100_000 + "]" * 100_000  # the last action
        diagnosis = ok(await stack.call("diagnose_desktop_flow_run", {"run_id": FLOW_ERROR}))
    assert diagnosis["verdict"] == "failed_in_flow"
    assert any((action.get("error") or "").startswith("[[[[") for action in diagnosis["action_log"]["actions"])
