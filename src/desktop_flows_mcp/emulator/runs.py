"""One desktop flow run and its lifecycle, derived from the clock on every read.

Waiting (3, ``startedon`` null) → Running (2, ``startedon`` set) → a terminal status with
``completedon``: the flow's outcome, TimedOut (10) when its natural duration exceeds the run's
``timeout``, or Cancelled (7). A ``NoCandidateMachine`` failure never leaves the queue.
Nothing ticks in the background: the state at time *t* is a pure function of the run and *t*.

A run targets a machine group or a standalone machine (see ``placement``). ``_machinegroupid_value``
is set from the start for group targets; ``_machineid_value`` is set from the start for a standalone
machine, and for a group once a machine was assigned (when the run leaves the queue, or is refused by
an assigned machine). Whether Dataverse fills them earlier is undocumented; this is our choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from .tables import INACTIVE_FLOWSESSION_STATUSES

WAITING, RUNNING, SUCCEEDED, CANCELLED, FAILED, TIMED_OUT = 3, 2, 4, 7, 8, 10
TRIGGER_TYPE_API, TRIGGER_TYPE_CLOUD_FLOW = 3, 0


@dataclass(frozen=True)
class Outcome:
    """How a run ends if nothing interrupts it."""

    statuscode: int = SUCCEEDED
    outputs: dict[str, object] | None = None
    errorcode: str | None = None
    errormessage: str | None = None
    leaves_queue: bool = True
    assigned: bool = True  # False: no machine ever took the run (NoCandidateMachine)
    failed_action: str | None = None  # the PAD action that failed, for action logs
    errordetails: str | None = None


VALID_LICENCE = ("ValidLicenseCoverage", "Valid License Coverage")


@dataclass
class Run:
    id: str
    workflow_id: str
    name: str
    owner_id: str
    connection_id: str
    run_mode: int  # 1 attended, 2 unattended
    inputs: dict[str, object]
    created_at: float
    queue_seconds: float
    run_seconds: float
    timeout: int
    outcome: Outcome
    callback_url: str | None = None
    cancelled_at: float | None = None
    base_version: int = 1_000_000
    priority: str = field(default="normal")
    machine_id: str | None = None
    group_id: str | None = None
    standalone: bool = False
    trigger_type: int = TRIGGER_TYPE_API
    license_check: tuple[str, str] = VALID_LICENCE
    inputs_text: str | None = None  # the inputs string as RunDesktopFlow received it
    created_by: str | None = None  # the systemuser who started it (the owner, unless seeded otherwise)


@dataclass(frozen=True)
class RunState:
    statuscode: int
    startedon: float | None
    completedon: float | None
    modifiedon: float
    version: int
    errorcode: str | None = None
    errormessage: str | None = None
    outputs: dict[str, object] | None = None

    @property
    def terminal(self) -> bool:
        return self.completedon is not None


def natural_end(run: Run) -> tuple[float, Outcome]:
    """When and how the run ends if it is not cancelled."""
    start = run.created_at + run.queue_seconds
    if run.outcome.leaves_queue and run.run_seconds > run.timeout:
        timed_out = Outcome(
            TIMED_OUT,
            errorcode="DesktopFlowsActionTimeout",
            errormessage=f"The desktop flow run exceeded its timeout of {run.timeout} seconds.",
        )
        return start + run.timeout, timed_out
    return start + (run.run_seconds if run.outcome.leaves_queue else 0.0), run.outcome


def end_of(run: Run) -> tuple[float, Outcome]:
    end, outcome = natural_end(run)
    if run.cancelled_at is not None and run.cancelled_at < end:
        return run.cancelled_at, Outcome(CANCELLED, leaves_queue=outcome.leaves_queue)
    return end, outcome


def observe(run: Run, now: float) -> RunState:
    start = run.created_at + run.queue_seconds
    end, outcome = end_of(run)
    started = outcome.leaves_queue and start <= end
    if now >= end:
        return RunState(
            outcome.statuscode,
            startedon=start if started else None,
            completedon=end,
            modifiedon=end,
            version=run.base_version + (3 if started else 2),
            errorcode=outcome.errorcode,
            errormessage=outcome.errormessage,
            outputs=outcome.outputs if outcome.statuscode == SUCCEEDED else None,
        )
    if started and now >= start:
        return RunState(RUNNING, startedon=start, completedon=None, modifiedon=start, version=run.base_version + 2)
    return RunState(WAITING, None, None, modifiedon=run.created_at, version=run.base_version + 1)


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def statecode_for(statuscode: int) -> int:
    return 1 if statuscode in INACTIVE_FLOWSESSION_STATUSES else 0


def assigned_machine(run: Run, now: float) -> str | None:
    """The machine the row names at ``now`` (see the module docstring)."""
    if run.standalone:
        return run.machine_id
    assigned_at = run.created_at + run.queue_seconds
    cancelled_first = run.cancelled_at is not None and run.cancelled_at < assigned_at
    return run.machine_id if run.outcome.assigned and now >= assigned_at and not cancelled_first else None


@cache
def inner_error(code: str, message: str | None) -> str:
    """A service-side stack trace of realistic size (about 12 KB), so clients must cap what they show."""
    frames = "".join(
        f"\n   at Microsoft.Flow.Rpa.Orchestration.{part}.ExecuteAsync(RunContext context) in step {index}"
        for index, part in enumerate(["QueueDispatcher", "SessionBroker", "AgentChannel", "RunMonitor"] * 30)
    )
    return f"{code}: {message or ''}{frames}"


def durations(state: RunState, created: float) -> dict[str, int | None]:
    """runduration, runwaitduration, runexecutionduration in milliseconds (the reference: BigInt, units
    undocumented, likely ms). Wait: until the start, or until the end for a run that never started; execution:
    start to end; total: request to end. Each is null until it is known."""
    left_queue = state.startedon if state.startedon is not None else state.completedon

    def ms(begin: float | None, end: float | None) -> int | None:
        return round((end - begin) * 1000) if begin is not None and end is not None else None

    return {
        "runduration": ms(created, state.completedon),
        "runwaitduration": ms(created, left_queue),
        "runexecutionduration": ms(state.startedon, state.completedon),
    }


def flowsession_row(run: Run, now: float) -> dict[str, object]:
    state = observe(run, now)
    return {
        "flowsessionid": run.id,
        "name": run.name,
        "statuscode": state.statuscode,
        "statecode": statecode_for(state.statuscode),
        "startedon": iso(state.startedon),
        "completedon": iso(state.completedon),
        "createdon": iso(run.created_at),
        "modifiedon": iso(state.modifiedon),
        "errorcode": state.errorcode,
        "errormessage": state.errormessage,
        "runmode": run.run_mode,
        "triggertype": run.trigger_type,
        "_regardingobjectid_value": run.workflow_id,
        "connectionid": run.connection_id,
        "callbackurl": run.callback_url,
        "_ownerid_value": run.owner_id,
        "_createdby_value": run.created_by or run.owner_id,
        "versionnumber": state.version,
        "_machineid_value": assigned_machine(run, now),
        "_machinegroupid_value": run.group_id,
        "errordetails": end_of(run)[1].errordetails if state.errorcode else None,
        "errorinnererror": inner_error(state.errorcode, state.errormessage) if state.errorcode else None,
        **durations(state, run.created_at),
    }
