"""The in-memory tables and the operations on them: start, read and cancel runs.

Only cancellation mutates a run; everything else about its state is derived from the clock
(see ``runs``). Run starts are limited per connection to 70 in any 60 seconds. Each run is
placed on its connection's machine or group when it is created (see ``placement``). Machines,
groups, action logs and the organization live in ``fleet``. History runs are started from a
cloud flow (``triggertype`` 0), except about one in four started through the Web API (3).
"""

from __future__ import annotations

import math
import uuid
from collections import deque

from .aggregate import AGGREGATE_LIMIT
from .errors import (
    RECORD_NOT_FOUND_BY_KEY,
    THROTTLED,
    DataverseError,
    invalid_argument,
    not_found,
    privilege_denied,
)
from .estate import build_estate_history
from .fleet import Fleet
from .history import build_history
from .machines import TARGETS
from .placement import place
from .principals import Principal
from .run_request import RunRequest
from .runs import TRIGGER_TYPE_API, TRIGGER_TYPE_CLOUD_FLOW, Run, flowsession_row, iso, observe
from .scenarios import scenario_runs
from .seed import (
    ALL_FLOWS,
    CONNECTION_REFERENCES,
    CONNECTIONS,
    DESKTOP_FLOW,
    DRAFT,
    OTHER_WORKFLOWS,
    SUSPENDED,
    UIFLOW_CONNECTOR,
    FlowSeed,
    schema_json,
)

RUNS_PER_WINDOW = 70
WINDOW_SECONDS = 60.0
DAY = 86_400.0
WORKFLOW_STATUS = {0: 1, 1: 2, 2: 3}  # statecode -> statuscode (Draft, Activated, CompanyDLPViolation)


def _workflow_row(
    workflow_id: str, name: str, category: int, statecode: int, description: str | None, created: float
) -> dict[str, object]:
    return {
        "workflowid": workflow_id,
        "name": name,
        "description": description,
        "category": category,
        "type": 1,
        "statecode": statecode,
        "statuscode": WORKFLOW_STATUS[statecode],
        "uiflowtype": 2 if category == DESKTOP_FLOW else None,
        "modernflowtype": 0 if category == 5 else None,
        "primaryentity": "none",
        "componentstate": 0,
        "ismanaged": False,
        "inputs": None,
        "outputs": None,
        "createdon": iso(created),
        "modifiedon": iso(created + 3 * DAY),
        "_ownerid_value": None,
        "versionnumber": 1_060_000 + int(workflow_id[:4], 16) % 9000,
    }


class Store:
    aggregate_limit = AGGREGATE_LIMIT  # rows an aggregate may see; tests lower it to reach the limit

    def __init__(self, now: float, owner_id: str) -> None:
        self.flows = {flow.id: flow for flow in ALL_FLOWS}
        self.workflows: dict[str, dict[str, object]] = {}
        for index, flow in enumerate(ALL_FLOWS):
            state = {DRAFT: 0, SUSPENDED: 2}.get(flow.state, 1)
            row = _workflow_row(flow.id, flow.name, DESKTOP_FLOW, state, flow.description, now - flow.age_days * DAY)
            row["modifiedon"] = iso(now - (index % 9 + 1) * DAY)
            row["componentstate"] = 1 if flow.state == DRAFT else 0
            row["inputs"] = schema_json(flow.inputs, outputs=False)
            row["outputs"] = schema_json(flow.outputs, outputs=True)
            self.workflows[flow.id] = row
        for other in OTHER_WORKFLOWS:
            created = now - 200 * DAY
            self.workflows[other.id] = _workflow_row(
                other.id, other.name, other.category, other.statecode, other.description, created
            )
        for row in self.workflows.values():
            row["_ownerid_value"] = owner_id
        self.references = [
            self._reference_row(reference_index, now) for reference_index in range(len(CONNECTION_REFERENCES))
        ]
        self.runs: dict[str, Run] = {}
        for run in build_history(now, owner_id):
            run.trigger_type = TRIGGER_TYPE_API if int(run.id[:8], 16) % 4 == 0 else TRIGGER_TYPE_CLOUD_FLOW
            self._add(run)
        for run in scenario_runs(now, owner_id, self.flows):
            self._add(run)
        for run in build_estate_history(now, owner_id, self.flows):
            self._add(run)
        self.fleet = Fleet(now, owner_id, self.runs)
        self.starts: dict[str, deque[float]] = {}
        self.start_log: list[tuple[str, float, bool]] = []  # (connection, when, accepted) for the test API
        self.owner_id = owner_id

    def _add(self, run: Run) -> None:
        """Place the run on its target, queued behind the runs already on that group."""
        target = TARGETS[self.flows[run.workflow_id].target or run.connection_id]
        busy = [other for other in self.runs.values() if target.group_id and other.group_id == target.group_id]
        place(run, target, busy)
        self.runs[run.id] = run

    def _reference_row(self, index: int, now: float) -> dict[str, object]:
        reference = CONNECTION_REFERENCES[index]
        return {
            "connectionreferenceid": reference.id,
            "connectionreferencelogicalname": reference.logical_name,
            "connectionreferencedisplayname": reference.display_name,
            "connectorid": reference.connector,
            "connectionid": reference.connection_id,
            "description": reference.description,
            "statecode": 0,
            "statuscode": 1,
            "createdon": iso(now - (90 - index) * DAY),
            "modifiedon": iso(now - (30 - index) * DAY),
            "_ownerid_value": None,
            "versionnumber": 2_200_000 + index,
        }

    def visible_workflows(self, include_unpublished: bool) -> list[dict[str, object]]:
        return [row for row in self.workflows.values() if include_unpublished or row["componentstate"] != 1]

    def workflow(self, workflow_id: str, include_unpublished: bool) -> dict[str, object]:
        row = self.workflows.get(workflow_id)
        if row is None or (row["componentstate"] == 1 and not include_unpublished):
            raise not_found("workflow", workflow_id)
        return row

    def run(self, run_id: str, principal: Principal) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise not_found("flowsession", run_id)
        if not principal.reads_all_runs and run.owner_id != principal.user_id:
            raise privilege_denied(principal.user_id, "flowsession")
        return run

    def reads_run(self, principal: Principal, run_id: str) -> bool:
        run = self.runs.get(run_id)
        return run is not None and (principal.reads_all_runs or run.owner_id == principal.user_id)

    def rows(self, entity_set: str, principal: Principal, now: float) -> list[dict[str, object]]:
        """The rows of an entity set this principal may read (403 when it may read none)."""
        if entity_set == "flowsessions":
            return self.visible_runs(principal, now)
        if entity_set == "flowmachines":
            return self.fleet.machines(principal, now)
        if entity_set == "flowmachinegroups":
            return self.fleet.groups(principal, now)
        if entity_set == "flowlogs":
            return self.fleet.logs_for(principal, now, lambda run_id: self.reads_run(principal, run_id))
        if entity_set == "organizations":
            return self.fleet.organizations()
        raise ValueError(f"No rows for entity set {entity_set}")

    def visible_runs(self, principal: Principal, now: float) -> list[dict[str, object]]:
        return [
            flowsession_row(run, now)
            for run in self.runs.values()
            if principal.reads_all_runs or run.owner_id == principal.user_id
        ]

    def start_run(self, flow_id: str, request: RunRequest, principal: Principal, now: float) -> Run:
        row = self.workflow(flow_id, include_unpublished=True)
        flow = self.flows.get(flow_id)
        if flow is None:
            raise invalid_argument(f"The workflow '{row['name']}' ({flow_id}) is not a desktop flow (category 6).")
        if flow.state == DRAFT:
            raise invalid_argument(f"The desktop flow '{flow.name}' has not been published and cannot be run.")
        if flow.state == SUSPENDED:
            raise invalid_argument(
                f"The desktop flow '{flow.name}' is suspended (CompanyDLPViolation) and cannot be run."
            )
        connection_id = self._resolve_connection(request)
        self._throttle(connection_id, now)
        run = self._new_run(flow, request, principal, connection_id, now)
        self._add(run)
        return run

    def _new_run(
        self, flow: FlowSeed, request: RunRequest, principal: Principal, connection_id: str, now: float
    ) -> Run:
        return Run(
            id=str(uuid.uuid4()),
            workflow_id=flow.id,
            name=flow.name,
            owner_id=principal.user_id,
            created_by=principal.user_id,
            connection_id=connection_id,
            run_mode=request.run_mode,
            inputs=request.inputs,
            inputs_text=request.inputs_text,
            created_at=now,
            queue_seconds=flow.queue_seconds,
            run_seconds=flow.run_seconds,
            timeout=request.timeout,
            outcome=flow.behaviour(request.inputs),
            callback_url=request.callback_url,
            base_version=5_000_000 + len(self.runs) * 7,
            priority=request.priority,
        )

    def _resolve_connection(self, request: RunRequest) -> str:
        name = request.connection_name
        if request.connection_type == 1:
            if name not in CONNECTIONS:
                raise invalid_argument(f"The desktop flow connection '{name}' was not found.")
            return name
        for reference in self.references:
            if str(reference["connectionreferencelogicalname"]).lower() == name.lower():
                if reference["connectorid"] != UIFLOW_CONNECTOR:
                    raise invalid_argument(
                        f"The connection reference '{name}' does not use the desktop flows connector."
                    )
                if reference["connectionid"] is None:
                    raise invalid_argument(f"The connection reference '{name}' is not bound to a connection.")
                return str(reference["connectionid"])
        raise DataverseError(
            404,
            RECORD_NOT_FOUND_BY_KEY,
            f"A record with the specified key values does not exist in connectionreference entity "
            f"(connectionreferencelogicalname='{name}').",
        )

    def _throttle(self, connection_id: str, now: float) -> None:
        starts = self.starts.setdefault(connection_id, deque())
        while starts and starts[0] <= now - WINDOW_SECONDS:
            starts.popleft()
        self.start_log.append((connection_id, now, len(starts) < RUNS_PER_WINDOW))
        if len(starts) >= RUNS_PER_WINDOW:
            retry_after = max(1, math.ceil(starts[0] + WINDOW_SECONDS - now))
            raise DataverseError(
                429,
                THROTTLED,
                f"DesktopFlowsActionThrottled: more than {RUNS_PER_WINDOW} desktop flow runs were requested "
                f"for connection '{connection_id}' within {int(WINDOW_SECONDS)} seconds. "
                f"Retry after {retry_after} seconds.",
                {"Retry-After": str(retry_after)},
            )
        starts.append(now)

    def cancel(self, run: Run, now: float) -> None:
        state = observe(run, now)
        if state.terminal:
            raise invalid_argument(
                f"The desktop flow run {run.id} has already completed (statuscode {state.statuscode}) "
                "and cannot be cancelled."
            )
        run.cancelled_at = now
