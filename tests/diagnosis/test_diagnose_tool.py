"""diagnose_desktop_flow_run over the real emulator, in both protocol eras: every verdict, what it costs in
requests, what it says when privileges are missing, and that it changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import error_of, ok
from tests.stacks import ERAS, Stack, full_stack, run_only_stack

pytestmark = pytest.mark.anyio

STUCK = "3e7b9d2f-6a4c-4e8b-b1d5-9f2a6c8e4b71"  # Waiting 25 min for WH-PC-07, heartbeat stopped 3 days ago
FLOW_ERROR = "c7a2e9d1-4b6f-4f3a-8c25-9d1e3b7f5a64"  # Failed ActionFailed, cloud flow, action logs kept
FLOW_ERROR_API = "d4b8f2c6-1e9a-4d7b-a3f5-6c2e8a4d1b97"  # the same, started through the Web API
LOGS_EXPIRED = "e8c3a5f7-2d1b-4e9c-b6a4-7f3d9c5e2a18"
HOSTED_NO_CANDIDATE = "f2d6b8a3-5c4e-4a1f-9e72-8b4a6d2c7e35"
CREDENTIALS = "a9e4c7b2-8f3d-4b6a-9c51-2d7f4b8e6a03"
NO_BOT = "7d5a1c8e-3f9b-4a2d-8e67-4b1d9a5c2f38"
RUNNING = "0a6c3e9f-1d5b-4f8a-a2c7-5e9b3d1f7a64"
BEHIND = "6a1f8c3e-4d9b-4e7a-b2f5-3c8d6a1e9b52"
SUCCEEDED = "b1f0c3a4-6d2e-4c8b-9a17-3e5f7d9b1c20"

# run, verdict, Dataverse requests it costs (first diagnosis in a fresh server)
SCENARIOS = [
    (STUCK, "queued_machine_unavailable", 2),
    (BEHIND, "queued_behind_others", 3),
    (RUNNING, "running", 3),
    (SUCCEEDED, "succeeded", 3),
    (FLOW_ERROR, "failed_in_flow", 3),
    (FLOW_ERROR_API, "failed_in_flow", 3),
    (LOGS_EXPIRED, "failed_in_flow", 3),
    (HOSTED_NO_CANDIDATE, "failed_no_machine", 3),
    (CREDENTIALS, "failed_machine_or_session", 1),
    (NO_BOT, "failed_no_machine", 1),
]


async def diagnose(stack: Stack, run_id: str) -> dict[str, Any]:
    return ok(await stack.call("diagnose_desktop_flow_run", {"run_id": run_id}))


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(("run_id", "verdict", "requests"), SCENARIOS, ids=[s[1] + "-" + s[0][:4] for s in SCENARIOS])
async def test_each_seeded_run_gets_its_verdict_at_a_bounded_request_cost(
    mode: str, run_id: str, verdict: str, requests: int
) -> None:
    async with full_stack(mode) as stack:
        result = await diagnose(stack, run_id)
    assert (result["run_id"], result["verdict"]) == (run_id, verdict)
    assert result["summary"] and result["cause"] and result["next_step"]
    assert len(stack.wire.requests) == requests, stack.wire.paths()
    assert all(request.method == "GET" for request in stack.wire.requests)  # it changes nothing
    assert "unreadable" not in result


async def test_a_run_stuck_on_an_offline_machine_names_the_machine_its_heartbeat_and_the_queue() -> None:
    async with full_stack() as stack:
        result = await diagnose(stack, STUCK)
    machine = result["machine"]
    assert (machine["name"], machine["health"], machine["heartbeat_age_minutes"]) == ("WH-PC-07", "offline", 4560)
    assert "WH-PC-07 is offline (last heartbeat 3 d ago)" in result["cause"]
    assert result["queue"]["runs_ahead"] == 0 and result["queue"]["capacity"] == 0
    assert result["queue"]["oldest_waiting_minutes"] == 25
    assert "Do not start it again" in result["next_step"] and "online" in result["admin_step"]
    assert result["action_log"]["note"].startswith("The run never started")


async def test_a_run_queued_behind_others_counts_the_runs_ahead_and_the_capacity() -> None:
    async with full_stack() as stack:
        result = await diagnose(stack, BEHIND)
    assert result["queue"] | {"note": None} == {
        "runs_ahead": 2, "running": 2, "capacity": 2, "oldest_waiting_minutes": 12, "note": None
    }  # fmt: skip
    assert [m["name"] for m in result["group_machines"]] == ["CLM-BOT-01", "CLM-BOT-02"]
    assert result["group"] == {
        "id": "8a3d6e1f-4c9b-4a72-b5e8-1f7c3a9d2e60",
        "name": "Claims processing bots",
        "kind": "standard",
        "status": "Active",
        "machine_count": 2,
    }


async def test_a_failed_run_shows_its_error_and_the_last_actions_oldest_first_ending_at_the_failure() -> None:
    async with full_stack() as stack:
        result = await diagnose(stack, FLOW_ERROR)
    failure, actions = result["failure"], result["action_log"]["actions"]
    assert failure["code"] == "ActionFailed" and failure["documented"] is False
    assert "not in Microsoft's documented list" in failure["fix"]
    assert len(actions) == 20 and [a["at"] for a in actions] == sorted(a["at"] for a in actions)
    assert actions[-1]["status"] == "Failed" and "password protected" in actions[-1]["error"]
    assert result["summary"] == "The run failed inside the flow at action 'Extract tables from PDF' (ActionFailed)."
    assert "last 20 actions" in result["action_log"]["note"]


@pytest.mark.parametrize(
    ("run_id", "note"),
    [
        (FLOW_ERROR_API, "started through the Dataverse Web API"),
        (LOGS_EXPIRED, "this run's have expired"),
        (SUCCEEDED, "only for failed runs"),
        (CREDENTIALS, "never started"),
    ],
)
async def test_a_run_without_action_logs_says_plainly_why(run_id: str, note: str) -> None:
    async with full_stack() as stack:
        result = await diagnose(stack, run_id)
    assert result["action_log"]["actions"] == []
    assert note in result["action_log"]["note"]


async def test_a_documented_code_comes_with_its_meaning_and_both_fixes() -> None:
    async with full_stack() as stack:
        result = await diagnose(stack, CREDENTIALS)
    failure = result["failure"]
    assert failure["documented"] is True and failure["retry"] == "no"
    assert failure["meaning"] == "The connection's credentials could not sign in to the machine."
    assert "username format" in result["admin_step"] and failure["fix"] == result["next_step"]


async def test_a_hosted_group_that_failed_to_provision_is_the_cause_with_its_first_error_line() -> None:
    async with full_stack() as stack:
        result = await diagnose(stack, HOSTED_NO_CANDIDATE)
    group = result["group"]
    assert (group["kind"], group["provisioning"], group["machine_count"]) == ("hosted", "Error", 0)
    assert group["error"].startswith("HostedMachineGroupProvisioningFailed") and "Diagnostics" not in group["error"]
    assert "failed to provision" in result["cause"]
    assert result["licence"]["needs"].startswith("Power Automate Hosted Process")


TIMESHEETS: dict[str, Any] = {
    "flow": "Approve timesheets in HR system",
    "inputs": {"Week": "2026-W22"},
    "run_mode": "unattended",
}
PERMIT: dict[str, Any] = {
    "flow": "Fill permit application on government portal",
    "inputs": {"ApplicantName": "A", "PermitType": "B", "Attachments": []},
}


async def test_live_runs_reach_the_remaining_verdicts_and_a_licence_check_seen_at_start() -> None:
    async with full_stack() as stack:
        timesheets = ok(await stack.call("run_desktop_flow", TIMESHEETS))
        permit = ok(await stack.call("run_desktop_flow", PERMIT))
        fresh = ok(await stack.call("run_desktop_flow", {"flow": "Enter invoices into legacy ERP", "inputs": {}}))
        queued, hosted_waiting = await diagnose(stack, fresh["run_id"]), await diagnose(stack, permit["run_id"])
        cancelled_run = ok(
            await stack.call("run_desktop_flow", {"flow": "Enter invoices into legacy ERP", "inputs": {}})
        )
        ok(await stack.call("cancel_desktop_flow_run", {"run_id": cancelled_run["run_id"]}))
        await stack.clock.sleep(10)
        licence = await diagnose(stack, timesheets["run_id"])
        cancelled = await diagnose(stack, cancelled_run["run_id"])
    assert queued["verdict"] == "queued" and "should pick it up soon" in queued["cause"]
    assert hosted_waiting["verdict"] == "queued_machine_unavailable" and "provision" in hosted_waiting["cause"]
    assert timesheets["license_check"] == "UnattendedNoAddon"
    assert licence["verdict"] == "failed_licence"
    assert licence["licence"]["check"] == "UnattendedNoAddon" and licence["licence"]["ok"] is False
    assert "Process licence" in licence["cause"]
    assert cancelled["verdict"] == "cancelled"


@pytest.mark.parametrize("mode", ERAS)
async def test_without_machine_and_log_privileges_the_diagnosis_degrades_and_names_the_privileges(mode: str) -> None:
    async with run_only_stack(mode) as stack:
        stuck = ok(await stack.call("run_desktop_flow", {"flow": "Generate warehouse pick lists", "inputs": {}}))
        failed = ok(await stack.call("run_desktop_flow", {"flow": "Extract data from PDF invoices", "inputs": {}}))
        await stack.clock.sleep(30)
        waiting, broken = await diagnose(stack, stuck["run_id"]), await diagnose(stack, failed["run_id"])
        machines = error_of(await stack.call("list_machines", {}))
    assert waiting["verdict"] == "queued" and "machine" not in waiting
    assert "machines could not be read" in waiting["cause"]
    assert any("prvReadflowmachine" in line for line in waiting["unreadable"])
    assert broken["verdict"] == "failed_in_flow" and broken["failure"]["code"] == "ActionFailed"
    assert any("prvReadflowlog" in line for line in broken["unreadable"])
    assert machines["code"] == "permission_denied" and "prvReadflowmachine" in machines["hint"]


async def test_a_run_of_a_flow_outside_the_allow_list_is_not_diagnosed() -> None:
    async with full_stack(env={"DESKTOP_FLOWS_ALLOWED": "Enter invoices into legacy ERP"}) as stack:
        refused = error_of(await stack.call("diagnose_desktop_flow_run", {"run_id": STUCK}))
        allowed = await diagnose(stack, SUCCEEDED)
    assert refused["code"] == "flow_not_allowed"
    assert allowed["verdict"] == "succeeded"


async def test_an_unknown_run_is_not_found_and_a_bad_id_sends_nothing() -> None:
    async with full_stack() as stack:
        missing = error_of(
            await stack.call("diagnose_desktop_flow_run", {"run_id": "0" * 8 + "-0000-4000-8000-" + "0" * 12})
        )
        sent = len(stack.wire.requests)
        bad = error_of(await stack.call("diagnose_desktop_flow_run", {"run_id": "nope"}))
    assert missing["code"] == "not_found" and bad["code"] == "invalid_argument"
    assert len(stack.wire.requests) == sent


async def test_get_desktop_flow_run_points_at_the_diagnosis_when_failed_or_queued_long_and_stays_one_request() -> None:
    async with full_stack() as stack:
        failed = ok(await stack.call("get_desktop_flow_run", {"run_id": FLOW_ERROR}))
        stuck = ok(await stack.call("get_desktop_flow_run", {"run_id": STUCK}))
        recent = ok(await stack.call("get_desktop_flow_run", {"run_id": BEHIND}))
        waited = ok(await stack.call("wait_for_desktop_flow_run", {"run_id": STUCK, "timeout_seconds": 1}))
    assert "diagnose_desktop_flow_run" in failed["hint"]
    assert stuck["hint"].startswith("Queued for 25 minutes") and "diagnose_desktop_flow_run" in stuck["hint"]
    assert "hint" not in recent  # queued 3 minutes: nothing to diagnose yet
    assert "diagnose_desktop_flow_run" in waited["hint"] and "wait_for_desktop_flow_run again" in waited["hint"]
    assert stack.wire.paths().count("GET flowmachines") == 0
