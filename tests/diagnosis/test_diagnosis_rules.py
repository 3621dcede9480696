"""The pure parts of a diagnosis: the action-log tail and its limits, why a run has no logs, sub-codes, the queue
estimate and the verdict rules the emulator's seed does not reach."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from desktop_flows_mcp.dataverse.client import Page
from desktop_flows_mcp.diagnosis.action_log import TAIL_ACTIONS, TAIL_BYTES, tail, why_no_logs
from desktop_flows_mcp.diagnosis.evidence import failure_of, licence_of, queue_of
from desktop_flows_mcp.diagnosis.results import Licence, RunFailure
from desktop_flows_mcp.diagnosis.verdict import Evidence, decide
from desktop_flows_mcp.models import FlowRun
from desktop_flows_mcp.models.machine_rows import machine_from_row
from desktop_flows_mcp.models.machines import Machine, MachineGroup

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RUN_ID = "11111111-1111-4111-8111-111111111111"


def log_row(index: int, *, error: str | None = None, raw: str | None = None) -> dict[str, Any]:
    data = {"name": f"Action {index}", "startTime": f"2026-11-30T11:{index // 60:02d}:{index % 60:02d}.000Z"}
    if error:
        data |= {"status": "Failed", "error": error}
    return {
        "data": raw if raw is not None else json.dumps(data),
        "level": 100000002,
        "createdon": "2026-11-30T11:00:00Z",
    }


def test_the_tail_keeps_the_last_twenty_actions_oldest_first() -> None:
    rows = [log_row(i) for i in range(60, 0, -1)]  # newest first, as queried
    log = tail(rows)
    assert [a.name for a in log.actions] == [f"Action {i}" for i in range(41, 61)]
    assert len(log.actions) == TAIL_ACTIONS and log.note and "last 20" in log.note


def test_the_tail_stops_at_about_eight_kilobytes_and_caps_each_error() -> None:
    rows = [log_row(i, error="x" * 5_000) for i in range(20, 0, -1)]
    log = tail(rows)
    size = sum(len(a.model_dump_json(exclude_none=True).encode()) for a in log.actions)
    assert size <= TAIL_BYTES and 0 < len(log.actions) < 20
    assert all(a.error and len(a.error) <= 600 for a in log.actions)
    assert log.actions[-1].name == "Action 20"  # the newest survives the cut


def test_a_log_row_whose_data_is_not_json_shows_its_text_as_the_error() -> None:
    log = tail([{"name": "Run script", "data": "boom: access denied", "level": 100000004}])
    assert (log.actions[0].name, log.actions[0].error, log.actions[0].level) == (
        "Run script",
        "boom: access denied",
        "Error",
    )
    assert log.note is None


@pytest.mark.parametrize(
    ("settings", "kwargs", "expected"),
    [
        ({"desktopflowrunactionlogsstatus": 2}, {}, "disabled in this environment"),
        ({"desktopflowrunactionlogversion": 0}, {}, "V1, in the run's additionalcontext file"),
        ({}, {"completed_on": None}, "No action has been logged yet"),
        ({}, {}, "No action logs were found"),
        (None, {"trigger_type": 3}, "Web API"),
    ],
)
def test_why_a_run_has_no_logs(settings: dict[str, Any] | None, kwargs: dict[str, Any], expected: str) -> None:
    arguments: dict[str, Any] = {"started": True, "failed": True, "trigger_type": 0, "completed_on": NOW,
                                 "settings": settings, "now": NOW} | kwargs  # fmt: skip
    assert expected in why_no_logs(**arguments)


def test_a_sub_code_in_the_texts_refines_the_fix_and_long_texts_are_capped() -> None:
    row = {
        "errorcode": "NoCandidateMachine",
        "errormessage": "No machine. SessionExistsForTheUserWhenUnattended " + "y" * 3_000,
        "errordetails": "z" * 3_000,
    }
    failure = failure_of(row, "Failed")
    assert (
        failure is not None and failure.meaning and "Sub-code SessionExistsForTheUserWhenUnattended" in failure.meaning
    )
    assert failure.fix and "Sign the connection's user out" in failure.fix
    assert len(failure.message or "") <= 1000 and len(failure.details or "") <= 1000
    assert failure_of({}, "Running") is None


def test_a_local_run_has_no_licence_finding_and_an_unknown_check_is_passed_through() -> None:
    assert (
        licence_of(FlowRun(run_id=RUN_ID, status="Failed", is_terminal=True, run_mode="local"), None, None, None)
        is None
    )
    run = FlowRun(run_id=RUN_ID, status="Failed", is_terminal=True, run_mode="attended")
    licence = licence_of(run, None, None, "SomethingNew")
    assert licence is not None and licence.check == "SomethingNew" and licence.ok is None
    assert licence.needs == "Power Automate Premium"


def test_the_queue_estimate_says_when_it_is_a_lower_bound() -> None:
    run = FlowRun(run_id=RUN_ID, status="Waiting", is_terminal=False, created_on=NOW)
    rows = [{"flowsessionid": "a", "statuscode": 3, "createdon": "2026-11-30T11:00:00Z"}]
    queue = queue_of(run, Page(rows, "flowsessions?$skiptoken=x"), None, NOW)
    assert (queue.runs_ahead, queue.capacity, queue.oldest_waiting_minutes) == (1, None, 60)
    assert queue.note and "lower bound" in queue.note


def test_machine_health_reads_an_expired_group_key_and_over_capacity_as_error() -> None:
    base = {
        "flowmachineid": "m",
        "name": "M",
        "statecode": 0,
        "statuscode": 1,
        "lastheartbeatdate": "2026-11-30T11:59:00Z",
    }
    assert machine_from_row(base, NOW).health == "online"
    assert machine_from_row(base | {"keydeliverystatus": 3}, NOW).health == "error"
    assert machine_from_row(base | {"overcapacitysince": "2026-11-29T00:00:00Z"}, NOW).health == "error"
    assert machine_from_row(base | {"lastheartbeatdate": None}, NOW).health_reason == "no heartbeat was ever received"


def machine(health: str = "online") -> Machine:
    return Machine(id="m", name="M", health=health, health_reason="r")  # type: ignore[arg-type]


def evidence(**overrides: Any) -> Evidence:
    base: dict[str, Any] = {"status": "Failed", "started": False, "minutes": 30, "machine": None, "group": None,
                            "targets": None, "queue": None, "failure": None, "licence": None}  # fmt: skip
    return Evidence(**(base | overrides))


def test_an_empty_group_is_the_cause_of_a_queued_or_failed_run() -> None:
    group = MachineGroup(id="g", name="Night shift", kind="standard")
    queued = decide(evidence(status="Waiting", group=group, targets=[]))
    failed = decide(evidence(group=group, targets=[], failure=RunFailure(code="NoCandidateMachine")))
    assert queued.verdict == "queued_machine_unavailable" and "Night shift has no machines" in queued.cause
    assert (
        failed.verdict == "failed_no_machine" and failed.admin_step == "Add at least one machine to the machine group."
    )


def test_a_waiting_run_with_a_failed_licence_check_says_so() -> None:
    licence = Licence(needs="Premium", holder="owner", check="AttendedNoLicense", ok=False, finding="Needs Premium.")
    decision = decide(evidence(status="Waiting", targets=[machine()], licence=licence))
    assert decision.verdict == "queued" and decision.cause == "Needs Premium."


def test_a_timeout_is_a_failure_in_the_flow_and_a_documented_machine_code_is_not() -> None:
    timeout = RunFailure(code="DesktopFlowsActionTimeout", documented=True, meaning="Too long.", fix="Split it.")
    busy = RunFailure(code="UIFlowAlreadyRunning", documented=True, meaning="Busy.", fix="Wait.")
    assert decide(evidence(status="TimedOut", started=True, failure=timeout)).verdict == "failed_in_flow"
    assert decide(evidence(started=True, failure=busy)).verdict == "failed_machine_or_session"


def test_a_run_that_never_started_without_a_code_and_unreadable_machines_is_still_explained() -> None:
    decision = decide(evidence(targets=None, machine=machine("offline")))
    assert decision.verdict == "failed_no_machine" and "none took the run in time" in decision.cause


def test_a_run_waiting_on_offline_machines_lists_them() -> None:
    decision = decide(evidence(status="Waiting", targets=[machine("offline"), machine("maintenance")]))
    assert decision.verdict == "queued_machine_unavailable" and "M is maintenance" in decision.cause


def test_timestamps_in_the_future_count_as_a_fresh_heartbeat() -> None:
    ahead = (NOW + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = {"flowmachineid": "m", "name": "M", "statecode": 0, "statuscode": 1, "lastheartbeatdate": ahead}
    assert machine_from_row(row, NOW).health == "online"
