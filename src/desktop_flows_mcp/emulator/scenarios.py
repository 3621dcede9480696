"""Seeded runs with fixed ids, one for each answer a run diagnosis can give, relative to the start-up clock.

id prefix  flow                              state at start-up
b1f0c3a4   Enter invoices into legacy ERP    Succeeded 12 min ago on Finance bots (cloud flow, no logs kept)
c7a2e9d1   Extract data from PDF invoices    Failed ActionFailed 38 min ago, cloud flow, action logs kept
d4b8f2c6   Extract data from PDF invoices    Failed ActionFailed, started through the Web API: no logs
e8c3a5f7   Extract data from PDF invoices    Failed 20 days ago, cloud flow: its logs expired (14-day TTL)
f2d6b8a3   Fill permit application ...       Failed NoCandidateMachine after 6 h on the hosted group
a9e4c7b2   Download supplier statements      Failed WindowsIdentityIncorrect on FIN-BOT-0x, never started
3e7b9d2f   Generate warehouse pick lists     Waiting 25 min for WH-PC-07, whose heartbeat stopped
7d5a1c8e   Approve timesheets in HR system   Failed NoCandidateMachine: HR-PC-03 has no unattended bot
0a6c3e9f, 5f8b2d4a                           Running on CLM-BOT-01 / CLM-BOT-02 (Claims processing bots)
9c3e7a1d, 2b7d4f9a                           Waiting on the claims group, queued 12 and 8 min ago
6a1f8c3e   Process insurance claim           Waiting 3 min, third in the claims queue
"""

from __future__ import annotations

from dataclasses import dataclass

from .history import SAMPLE_INPUTS
from .runs import TRIGGER_TYPE_API, TRIGGER_TYPE_CLOUD_FLOW, Run
from .seed import FlowSeed

MINUTE, HOUR, DAY = 60.0, 3_600.0, 86_400.0
FINANCE = "shared-uiflow-7f3c1a"
INVOICE, PDF, PERMIT = (
    "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14",
    "f4a7c2d9-8b1e-4f3a-9d65-7c2e4a8b1f90",
    "5d9b3f17-6e2a-4c8d-b1f4-3a7e9c2d6b80",
)
PICK_LISTS, CLAIM, SUPPLIER, TIMESHEETS = (
    "c2a8e4f1-7b3d-4e6a-9f15-8d2c6b4a1e73",
    "4b9f1d6c-2e8a-4c7b-a5d3-9e1f7c2b8a46",
    "8d3c5a7e-6f2b-4d1a-b9e4-3a7c1f5d9b82",
    "e5b1d9f3-8c4a-4f7e-a2b6-1d8e5c3f7a90",
)

RUN_SUCCEEDED = "b1f0c3a4-6d2e-4c8b-9a17-3e5f7d9b1c20"
RUN_FLOW_ERROR = "c7a2e9d1-4b6f-4f3a-8c25-9d1e3b7f5a64"
RUN_FLOW_ERROR_API = "d4b8f2c6-1e9a-4d7b-a3f5-6c2e8a4d1b97"
RUN_LOGS_EXPIRED = "e8c3a5f7-2d1b-4e9c-b6a4-7f3d9c5e2a18"
RUN_NO_CANDIDATE = "f2d6b8a3-5c4e-4a1f-9e72-8b4a6d2c7e35"
RUN_CREDENTIALS = "a9e4c7b2-8f3d-4b6a-9c51-2d7f4b8e6a03"
RUN_STUCK_OFFLINE = "3e7b9d2f-6a4c-4e8b-b1d5-9f2a6c8e4b71"
RUN_LICENCE = "7d5a1c8e-3f9b-4a2d-8e67-4b1d9a5c2f38"
RUN_CLAIM_RUNNING_1 = "0a6c3e9f-1d5b-4f8a-a2c7-5e9b3d1f7a64"
RUN_CLAIM_RUNNING_2 = "5f8b2d4a-9c6e-4b1f-8d3a-7c2e6a9f4b15"
RUN_CLAIM_WAITING_1 = "9c3e7a1d-5b8f-4d2c-b6e9-1a4f8c2d6e37"
RUN_CLAIM_WAITING_2 = "2b7d4f9a-6e1c-4a8b-9f3d-8e5a2c7b1d46"
RUN_QUEUED_BEHIND = "6a1f8c3e-4d9b-4e7a-b2f5-3c8d6a1e9b52"

EXTRA_INPUTS: dict[str, dict[str, object]] = {
    PDF: {"FolderPath": "\\\\fileserver\\scans\\invoices", "MaxFiles": 25},
    PICK_LISTS: {"OrderIds": ["SO-88130", "SO-88131", "SO-88135"], "Warehouse": "WH-EAST"},
    CLAIM: {"ClaimNumber": "CLM-204417", "PolicyNumber": "P-88-1042", "Amount": 1850},
    SUPPLIER: {"SupplierId": "100871", "Month": "2026-05"},
    TIMESHEETS: {"Week": "2026-W21"},
}


@dataclass(frozen=True)
class Scenario:
    id: str
    flow_id: str
    created_ago: float
    queue_seconds: float
    run_seconds: float
    trigger_type: int = TRIGGER_TYPE_CLOUD_FLOW
    run_mode: int = 2


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(RUN_LOGS_EXPIRED, PDF, 20 * DAY, 30, 80),
    Scenario(RUN_NO_CANDIDATE, PERMIT, 8 * HOUR, 6 * HOUR, 0),
    Scenario(RUN_LICENCE, TIMESHEETS, 3 * HOUR, 4, 60),
    Scenario(RUN_CREDENTIALS, SUPPLIER, 65 * MINUTE, 25, 0),
    Scenario(RUN_FLOW_ERROR_API, PDF, 50 * MINUTE, 12, 60, trigger_type=TRIGGER_TYPE_API),
    Scenario(RUN_FLOW_ERROR, PDF, 40 * MINUTE, 35, 95),
    Scenario(RUN_CLAIM_RUNNING_1, CLAIM, 36 * MINUTE, 60, 50 * MINUTE),
    Scenario(RUN_STUCK_OFFLINE, PICK_LISTS, 25 * MINUTE, 1, 40),
    Scenario(RUN_CLAIM_RUNNING_2, CLAIM, 21 * MINUTE, 60, 45 * MINUTE),
    Scenario(RUN_SUCCEEDED, INVOICE, 15 * MINUTE, 20, 140),
    Scenario(RUN_CLAIM_WAITING_1, CLAIM, 12 * MINUTE, 60, 20 * MINUTE),
    Scenario(RUN_CLAIM_WAITING_2, CLAIM, 8 * MINUTE, 60, 20 * MINUTE),
    Scenario(RUN_QUEUED_BEHIND, CLAIM, 3 * MINUTE, 60, 20 * MINUTE),
)


def scenario_runs(now: float, owner_id: str, flows: dict[str, FlowSeed]) -> list[Run]:
    """The scenario runs, oldest first (placement queues each behind the ones before it)."""
    runs: list[Run] = []
    for index, scenario in enumerate(SCENARIOS):
        flow = flows[scenario.flow_id]
        inputs = EXTRA_INPUTS.get(flow.id) or SAMPLE_INPUTS.get(flow.name, {})
        runs.append(
            Run(
                id=scenario.id,
                workflow_id=flow.id,
                name=flow.name,
                owner_id=owner_id,
                connection_id=flow.target or FINANCE,
                run_mode=scenario.run_mode,
                inputs=dict(inputs),
                created_at=now - scenario.created_ago,
                queue_seconds=scenario.queue_seconds,
                run_seconds=scenario.run_seconds,
                timeout=7200,
                outcome=flow.behaviour(inputs),
                base_version=4_900_000 + index * 11,
                trigger_type=scenario.trigger_type,
            )
        )
    return runs
