"""Four more weeks of runs, so an estate summary has something to say: busy days, failing flows, queues, groups.

Added after the history and scenario runs (whose rows stay as they were), from their own random seed and id
namespace, all started through the Web API (``triggertype`` 3: no action logs, so the log tables are unchanged), from
28 days ago to two days ago, all finished. Per day, roughly:

    Finance bots group      invoices, bank reconciliation, GL export; PDF extraction fails in the flow; now and
                            then a session of the bot user blocks an unattended run (SessionExistsForTheUser...)
    Ops workstation         SAP lookups and mainframe inquiries, attended; sometimes nobody is signed in
                            (NoUnlockedActiveSessionForAttended); the sales report times out when given 300 s
    Claims processing bots  bursts of claims every weekday morning: runs queue behind each other for minutes
    HR-PC-03 (no bot)       weekly unattended timesheet approvals: NoCandidateMachine (no unattended bot)
    Citizen portal (hosted) permit applications: NoCandidateMachine (provisioning failed)
    Finance bots            supplier statements: WindowsIdentityIncorrect
"""

from __future__ import annotations

import random
import uuid

from .history import SAMPLE_INPUTS
from .runs import TRIGGER_TYPE_API, Outcome, Run
from .scenarios import EXTRA_INPUTS
from .seed import FlowSeed

ESTATE_NAMESPACE = uuid.UUID("3c0e57a7-e5a1-4e1d-9b0f-5e57a7e5a7e5")
DAY, HOUR, MINUTE = 86_400.0, 3_600.0, 60.0
Mishap = tuple[tuple[str, float], ...]
FINANCE, OPS = "shared-uiflow-7f3c1a", "shared-uiflow-2b9e44"
INVOICE = "3a1f5c2e-8b4d-4e6f-9a21-0c7d3e5b8f14"
RECONCILE = "a6c1e8b3-4f2d-4a9e-8c57-1e3b5d7f9a26"
PDF = "f4a7c2d9-8b1e-4f3a-9d65-7c2e4a8b1f90"
GL = "b7f3e1c9-2a5d-4f8b-9c34-6e1a8d4f2b75"
SAP = "7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53"
MAINFRAME = "9f2d6b4e-3a8c-4d1f-b7e5-8c4a2f6d0e19"
SALES = "e2b8d4f6-1a3c-4d5e-8f70-9b6a2c4e1d38"
PERMIT = "5d9b3f17-6e2a-4c8d-b1f4-3a7e9c2d6b80"
CLAIM = "4b9f1d6c-2e8a-4c7b-a5d3-9e1f7c2b8a46"
SUPPLIER = "8d3c5a7e-6f2b-4d1a-b9e4-3a7c1f5d9b82"
TIMESHEETS = "e5b1d9f3-8c4a-4f7e-a2b6-1d8e5c3f7a90"

# flow, connection, runs a day (a float is a chance), attended share
DAILY: tuple[tuple[str, str, float, float], ...] = (
    (INVOICE, FINANCE, 3, 0.0),
    (RECONCILE, FINANCE, 1, 0.0),
    (PDF, FINANCE, 0.5, 0.0),
    (GL, FINANCE, 0.4, 0.0),
    (SUPPLIER, FINANCE, 0.15, 0.0),
    (SAP, OPS, 2, 1.0),
    (MAINFRAME, OPS, 1, 1.0),
    (SALES, OPS, 0.3, 1.0),
    (PERMIT, FINANCE, 0.3, 0.0),
)
SESSION_BLOCKED = Outcome(
    8,
    errorcode="SessionExistsForTheUserWhenUnattended",
    errormessage="There is a user session on the target machine. Sign out the user.",
)
NOBODY_SIGNED_IN = Outcome(
    8,
    errorcode="NoUnlockedActiveSessionForAttended",
    errormessage="No active and unlocked session was found for the attended run.",
)


def build_estate_history(now: float, owner_id: str, flows: dict[str, FlowSeed]) -> list[Run]:
    """The runs above, oldest first (placement queues each behind the ones before it)."""
    rng = random.Random(20261207)
    runs: list[Run] = []

    def add(flow_id: str, connection: str, created: float, *, attended: bool = False, mishap: Mishap = (),
            run_seconds: float | None = None) -> None:  # fmt: skip
        flow = flows[flow_id]
        natural = flow.run_seconds * (rng.uniform(20, 60) if flow.run_seconds < 100 else rng.uniform(0.8, 1.4))
        inputs = EXTRA_INPUTS.get(flow_id) or SAMPLE_INPUTS.get(flow.name, {})
        run = Run(
            id=str(uuid.uuid5(ESTATE_NAMESPACE, str(len(runs)))),
            workflow_id=flow_id,
            name=flow.name,
            owner_id=owner_id,
            connection_id=flow.target or connection,
            run_mode=1 if attended else 2,
            inputs=dict(inputs),
            created_at=created,
            queue_seconds=round(rng.uniform(3, 150)),
            run_seconds=round(natural),
            timeout=7200,
            outcome=flow.behaviour(inputs),
            base_version=6_000_000 + len(runs) * 7,
            trigger_type=TRIGGER_TYPE_API,
        )
        if run_seconds is not None:
            run.run_seconds = run_seconds
        for kind, value in mishap:
            if kind == "timeout":
                run.timeout = int(value)
            elif kind == "cancel_after":
                run.cancelled_at = created + run.queue_seconds + value
            else:
                run.outcome = NOBODY_SIGNED_IN if attended else SESSION_BLOCKED
        runs.append(run)

    for day in range(28, 1, -1):  # until the day before yesterday: the last day belongs to the other seeds
        midnight = now - day * DAY
        for flow_id, connection, per_day, attended_share in DAILY:
            count = int(per_day) + (1 if rng.random() < per_day % 1 else 0)
            for _ in range(count):
                created = midnight + rng.uniform(7, 19) * HOUR
                attended = rng.random() < attended_share
                add(flow_id, connection, created, attended=attended, mishap=_mishap(rng, flow_id))
        if day % 7 in (1, 2, 3, 4, 5):  # weekday mornings: a burst of claims on the two claims machines
            burst = midnight + 8 * HOUR + rng.uniform(0, 30) * MINUTE
            for index in range(rng.randint(3, 6)):
                add(CLAIM, FINANCE, burst + index * rng.uniform(20, 90), run_seconds=rng.uniform(8, 20) * MINUTE)
        if day % 7 == 5:  # the weekly timesheet approval, unattended on a machine without a bot
            add(TIMESHEETS, FINANCE, midnight + 17 * HOUR)
    runs.sort(key=lambda run: run.created_at)
    return runs


def _mishap(rng: random.Random, flow_id: str) -> Mishap:
    """What goes wrong now and then: a blocking session, nobody signed in, a report given too little time."""
    roll = rng.random()
    if flow_id == SALES and roll < 0.5:
        return (("timeout", 300.0),)
    if roll < 0.08:
        return (("session", 0.0),)
    if roll < 0.11:
        return (("cancel_after", rng.uniform(5, 60)),)
    return ()
