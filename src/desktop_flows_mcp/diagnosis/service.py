"""diagnose_desktop_flow_run: read a run and what explains it, in as few requests as the run's state needs.

    request                                                   when
    flowsessions(id) + $expand MachineId, MachineGroupId      always (again without $expand on a 403)
    flowmachines?$filter=group                                queued, or failed without starting, on a group
    flowsessions?$filter=target, Waiting or Running           queued
    flowlogs?$filter=run, action logs, $top 20                the run started
    organizations (log settings, kept 10 min)                 the run started
    flowmachines(id) hostedmachineerror / group provisioningerror   only a hosted machine or group in error

All but the first run concurrently. Nothing is written. A refusal (403) degrades: the diagnosis names what it
could not read and the privilege, and gives the rest. The allow-list applies as for cancelling.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import anyio

from ..clock import SYSTEM_CLOCK, Clock
from ..dataverse.client import DataverseClient, Page
from ..dataverse.odata import parse_guid
from ..errors import MACHINES_PRIVILEGE, DesktopFlowsError, ErrorCode, not_allowed
from ..flows import FlowCatalogue
from ..models import FlowRun, Row
from ..models.machine_rows import (
    RunPlacement,
    group_from_row,
    group_id,
    hosted_group_in_error,
    hosted_machine_in_error,
    machine_from_row,
    machine_id,
)
from ..recent import Recent
from .action_log import tail, unreadable_logs, why_no_logs
from .evidence import failure_of, licence_of, queue_of
from .results import ActionLog, Diagnosis
from .verdict import Evidence, decide

SETTINGS_TTL = 600.0
NO_MACHINE_CODES = ("NoCandidateMachine", "GroupIsEmpty")


def _value(found: dict[str, Any], name: str) -> Any:
    """A read's result, or None when it was not made or refused."""
    result = found.get(name)
    return None if isinstance(result, DesktopFlowsError) else result


async def settle(calls: dict[str, Awaitable[Any]]) -> dict[str, Any]:
    """Await concurrently; each result is its value or the DesktopFlowsError it raised."""
    results: dict[str, Any] = {}

    async def run(name: str, call: Awaitable[Any]) -> None:
        try:
            results[name] = await call
        except DesktopFlowsError as error:
            results[name] = error

    async with anyio.create_task_group() as group:
        for name, call in calls.items():
            group.start_soon(run, name, call)
    return results


class DiagnosisService:
    def __init__(
        self,
        client: DataverseClient,
        catalogue: FlowCatalogue,
        *,
        licence_check_seen: Callable[[str], str | None],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._client = client
        self._catalogue = catalogue
        self._licence_check_seen = licence_check_seen
        self._now = clock.now
        self._settings: Recent[str, Row] = Recent(SETTINGS_TTL, 1, clock)

    async def _run_row(self, run_id: str, unreadable: list[str]) -> Row:
        try:
            return await self._client.get_run_for_diagnosis(run_id, expand_machine=True)
        except DesktopFlowsError as error:
            if error.code is not ErrorCode.PERMISSION_DENIED:
                raise
        row = await self._client.get_run_for_diagnosis(run_id, expand_machine=False)  # the run itself: or raise
        unreadable.append(f"machines and groups: needs {MACHINES_PRIVILEGE}")
        return row

    async def _log_settings(self) -> Row:
        known = self._settings.get("settings")
        if known is None:
            known = await self._client.get_log_settings()
            self._settings.put("settings", known)
        return known

    async def diagnose(self, run_id: str) -> Diagnosis:
        run_id = parse_guid(run_id, argument="run_id")
        unreadable: list[str] = []
        row = await self._run_row(run_id, unreadable)
        run = FlowRun.from_row(row)
        if self._catalogue.allowed.active:  # as cancel: a run of a flow outside the allow-list is not explained
            if run.flow_id is None:
                raise not_allowed(f"the flow of run {run_id}")
            await self._catalogue.resolve_allowed(run.flow_id)
        placed = RunPlacement.from_row(row)
        machine_row, group_row = placed.machine, placed.group
        machines_readable = not unreadable
        standalone = placed.standalone
        started = run.started_on is not None
        waiting = run.status == "Waiting"
        no_machine = run.is_terminal and not started and placed.error_code in (None, *NO_MACHINE_CODES)
        calls: dict[str, Awaitable[Any]] = {}
        if machines_readable and placed.group_id and not standalone and (waiting or no_machine):
            calls["group_machines"] = self._client.list_group_machines(placed.group_id)
        if waiting and (placed.group_id or placed.machine_id):
            calls["queue"] = self._client.list_active_runs_on(
                group_id=None if standalone else placed.group_id,
                machine_id=placed.machine_id if standalone else None,
            )
        if started:
            calls["logs"] = self._client.list_action_logs(run_id, limit=20)
            calls["settings"] = self._log_settings()
        if machine_row and hosted_machine_in_error(machine_row):
            calls["machine_error"] = self._client.get_machine_error(machine_id(machine_row))
        if group_row and hosted_group_in_error(group_row):
            calls["group_error"] = self._client.get_group_provisioning_error(group_id(group_row))
        found = await settle(calls)
        failures = [value for value in found.values() if isinstance(value, DesktopFlowsError)]
        fatal = next((f for f in failures if f.code is not ErrorCode.PERMISSION_DENIED), None)
        if fatal is not None:
            raise fatal
        return self._assemble(run, row, found, unreadable, standalone=standalone)

    def _assemble(
        self, run: FlowRun, row: Row, found: dict[str, Any], unreadable: list[str], *, standalone: bool
    ) -> Diagnosis:
        now = self._now()
        placed = RunPlacement.from_row(row)
        machine_row, group_row = placed.machine, placed.group
        machine = (
            machine_from_row(machine_row, now, group=group_row, error=_value(found, "machine_error"))
            if machine_row
            else None
        )
        group_machine_rows: list[Row] | None = _value(found, "group_machines")
        group = None
        if group_row and not standalone:
            count = len(group_machine_rows) if group_machine_rows is not None else None
            group = group_from_row(group_row, machine_count=count, error=_value(found, "group_error"))
        group_machines = [machine_from_row(r, now, group=group_row) for r in group_machine_rows or []]
        targets = group_machines if group_machine_rows is not None else ([machine] if machine and standalone else None)
        queue_page: Page | None = _value(found, "queue")
        queue = queue_of(run, queue_page, targets, now) if queue_page is not None else None
        failure = failure_of(row, run.status)
        licence = licence_of(run, group, machine, self._licence_check_seen(run.run_id))
        log = self._action_log(run, row, found, unreadable, now)
        failed_action = next((a.name for a in reversed(log.actions) if a.status == "Failed" or a.error), None)
        minutes = int((now - run.created_on).total_seconds() // 60) if run.created_on else 0
        decision = decide(
            Evidence(run.status, run.started_on is not None, minutes, machine, group, targets, queue, failure,
                     licence, failed_action)
        )  # fmt: skip
        return Diagnosis(
            run_id=run.run_id,
            flow_id=run.flow_id,
            status=run.status,
            verdict=decision.verdict,
            summary=decision.summary,
            cause=decision.cause,
            machine=machine,
            group=group,
            group_machines=group_machines if group_machine_rows is not None else None,
            queue=queue,
            failure=failure,
            licence=licence,
            action_log=log,
            next_step=decision.next_step,
            admin_step=decision.admin_step,
            unreadable=unreadable or None,
        )

    def _action_log(
        self, run: FlowRun, row: Row, found: dict[str, Any], unreadable: list[str], now: datetime
    ) -> ActionLog:
        logs = found.get("logs")
        if isinstance(logs, DesktopFlowsError):
            unreadable.append(unreadable_logs())
            return ActionLog(actions=[], note="This identity may not read the run's action logs (see unreadable).")
        if logs:
            return tail(logs)
        settings = found.get("settings")
        return ActionLog(
            actions=[],
            note=why_no_logs(
                started=run.started_on is not None,
                failed=run.status in ("Failed", "Faulted", "TimedOut", "Aborted"),
                trigger_type=RunPlacement.from_row(row).trigger_type,
                completed_on=run.completed_on,
                settings=cast(Row, settings) if isinstance(settings, dict) else None,
                now=now,
            ),
        )
