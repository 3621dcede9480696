"""Where a run goes and how long it queues there: the connection's target decides.

A run targets what its connection targets (``machines.TARGETS``); a demo flow may pin a target of its own,
standing in for the cloud flow and connection it would be called with, so every diagnosis is reachable with
the one demo connection. Target kinds:

    open           the flow's queue time, then the flow's outcome; a group picks an online machine
    fifo           capacity 1 per online machine: the run starts when a machine frees up, first come first served
                   (cancelling a run does not move the queue up: starts are fixed when a run is queued)
    offline        the machine never picks the run up: Waiting for the six-hour queue limit, then
                   NoCandidateMachine
    unprovisioned  hosted group without machines: NoCandidateMachine after a 4 s demo queue limit
    unlicensed     attended runs answer licence check AttendedNoLicense but still run (a failed check may not
                   block the run, LIC); unattended runs answer UnattendedNoAddon and fail NoCandidateMachine
                   after 4 s (no unattended bot on the machine)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace

from .machines import GROUP_BY_ID, MACHINE_BY_ID, Target, usable_machines
from .runs import Outcome, Run, end_of

QUEUE_TIME_LIMIT = 6 * 3_600.0  # QERR; MMG now says 12 h
NO_CANDIDATE_AFTER = 4.0
NO_MACHINE = "No machine able to run the desktop flow has been found."


def _no_candidate(message: str, details: dict[str, str]) -> Outcome:
    return Outcome(
        8, errorcode="NoCandidateMachine", errormessage=message, leaves_queue=False, assigned=False,
        errordetails=json.dumps(details),
    )  # fmt: skip


def place(run: Run, target: Target, busy: Iterable[Run]) -> None:
    """Set the run's machine, group, queue time, outcome and licence check for its target."""
    run.group_id = target.group_id
    run.standalone = target.machine_id is not None
    run.machine_id = target.machine_id
    if target.kind in ("open", "fifo") and target.group_id is not None:
        machines = usable_machines(target.group_id)
        run.machine_id = machines[int(hashlib.sha256(run.id.encode()).hexdigest(), 16) % len(machines)].id
        if target.kind == "fifo" and run.outcome.leaves_queue:
            _first_free_machine(run, [m.id for m in machines], list(busy))
    elif target.kind == "offline":
        name = MACHINE_BY_ID[str(target.machine_id)].name
        run.queue_seconds = QUEUE_TIME_LIMIT
        run.outcome = _no_candidate(
            f"{NO_MACHINE} The run waited {int(QUEUE_TIME_LIMIT // 3600)} hours for machine '{name}', which is not "
            "connected.",
            {"machine": name, "queuedFor": "PT6H"},
        )
    elif target.kind == "unprovisioned":
        group = GROUP_BY_ID[str(target.group_id)]
        run.queue_seconds = max(run.queue_seconds, NO_CANDIDATE_AFTER)
        if run.outcome.errorcode != "NoCandidateMachine":
            message = f"{NO_MACHINE} The hosted machine group '{group.name}' has no machines: provisioning failed."
            run.outcome = _no_candidate(message, {"machineGroup": group.name})
        run.outcome = replace(run.outcome, assigned=False, errordetails=json.dumps({"machineGroup": group.name}))
    elif target.kind == "unlicensed":
        _unlicensed(run, MACHINE_BY_ID[str(target.machine_id)].name)


def _unlicensed(run: Run, machine: str) -> None:
    if run.run_mode == 1:
        run.license_check = (
            "AttendedNoLicense",
            "The owner of the connection has no Power Automate Premium licence for attended runs.",
        )
        return
    run.license_check = (
        "UnattendedNoAddon",
        f"The machine '{machine}' has no Power Automate Process licence or Unattended RPA add-on allocated.",
    )
    run.queue_seconds = max(run.queue_seconds, NO_CANDIDATE_AFTER)
    run.outcome = _no_candidate(
        f"{NO_MACHINE} The machine '{machine}' has no unattended bot allocated.", {"machine": machine}
    )


def _first_free_machine(run: Run, machine_ids: list[str], busy: list[Run]) -> None:
    """Start the run on the machine that frees up first, no earlier than its own queue time."""
    duration = min(run.run_seconds, run.timeout)
    earliest = run.created_at + run.queue_seconds
    best: tuple[float, str] | None = None
    for machine_id in machine_ids:
        slots = [_slot(other) for other in busy if other.machine_id == machine_id and other.outcome.leaves_queue]
        start = earliest
        while clash := [end for begin, end in slots if begin < start + max(duration, 1e-9) and start < end]:
            start = max(clash)
        if best is None or start < best[0]:
            best = (start, machine_id)
    assert best is not None
    run.queue_seconds = best[0] - run.created_at
    run.machine_id = best[1]


def _slot(run: Run) -> tuple[float, float]:
    return run.created_at + run.queue_seconds, end_of(run)[0]
