"""What a person reads in a task: status messages, durations and poll intervals, from a run's timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desktop_flows_mcp.models import FlowRun, RunError
from desktop_flows_mcp.tasks.views import PREFIX, duration, status_message, task_of

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RUN_ID = "d9687093-d0c0-ec11-983e-0022480b428a"


def run(status: str, code: int, terminal: bool = False, **fields: object) -> FlowRun:
    return FlowRun.model_validate(
        {"run_id": RUN_ID, "status": status, "status_code": code, "is_terminal": terminal, **fields}
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (40, "40 s"), (89, "89 s"), (180, "3 min"), (89 * 60, "89 min"), (7500, "2 h 5 min")],
)
def test_durations_read_at_a_glance(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_status_messages_say_what_the_run_is_doing_and_for_how_long() -> None:
    queued = run("Waiting", 3, created_on=NOW - timedelta(minutes=3))
    running = run("Running", 2, created_on=NOW - timedelta(minutes=5), started_on=NOW - timedelta(seconds=40))
    failed = run(
        "Failed",
        8,
        True,
        started_on=NOW - timedelta(minutes=2),
        completed_on=NOW,
        error=RunError(code="NoCandidateMachine", hint="h", retryable=False),
    )
    assert status_message(queued, NOW) == "Waiting for a machine for 3 min"
    assert status_message(running, NOW) == "Running for 40 s"
    assert status_message(failed, NOW) == "Run Failed (NoCandidateMachine) after 2 min"
    assert status_message(run("Waiting", 3), NOW) == "Waiting for a machine"
    assert status_message(run("Paused", 1), NOW) == "Paused"
    assert status_message(run("Cancelled", 7, True), NOW) == "Run Cancelled"


def test_a_run_queued_for_long_is_polled_more_rarely_up_to_a_minute() -> None:
    def interval(queued_minutes: float) -> int:
        waiting = run("Waiting", 3, created_on=NOW - timedelta(minutes=queued_minutes))
        return task_of(waiting, PREFIX + RUN_ID, NOW, 2.0)["pollIntervalMs"]

    assert [interval(m) for m in (0, 1, 3, 10, 600)] == [2000, 6000, 18000, 60000, 60000]


def test_a_task_keeps_ttl_null_and_dates_in_utc() -> None:
    task = task_of(run("Running", 2), "dfrun-" + RUN_ID, NOW, 4.5)
    assert task == {
        "taskId": "dfrun-" + RUN_ID,
        "status": "working",
        "statusMessage": "Running",
        "createdAt": "2026-11-30T12:00:00.000Z",
        "lastUpdatedAt": "2026-11-30T12:00:00.000Z",
        "ttlMs": None,
        "pollIntervalMs": 4500,
    }
