"""The verdict of a run diagnosis, decided from what was read: pure rules, no I/O.

status             evidence                                                   verdict
Succeeded                                                                     succeeded
Cancelled                                                                     cancelled
Running                                                                       running
Waiting            hosted group failed to provision, or no target machine     queued_machine_unavailable
                   online (offline, maintenance, error)
Waiting            runs ahead of it, or every session slot busy               queued_behind_others
Waiting            nothing explains a wait                                    queued
failed             licence check failed at start and the run never ran        failed_licence
failed             NoCandidateMachine, or never started without a code        failed_no_machine
failed             another documented code (machine, session, credentials)    failed_machine_or_session
failed             any other code: the flow itself failed                     failed_in_flow
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import Licence, Machine, MachineGroup, Queue, RunFailure, Verdict

ASK_ADMIN = "Share this diagnosis with the machine's administrator."


@dataclass(frozen=True)
class Evidence:
    status: str
    started: bool
    minutes: int  # since the run was created
    machine: Machine | None
    group: MachineGroup | None
    targets: list[Machine] | None  # the machines the run can go to, when they could be read
    queue: Queue | None
    failure: RunFailure | None
    licence: Licence | None
    last_failed_action: str | None = None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    summary: str
    cause: str
    next_step: str
    admin_step: str | None = None


def decide(e: Evidence) -> Decision:
    if e.status == "Succeeded":
        return Decision("succeeded", "The run succeeded.", "Nothing failed.",
                        "Call get_desktop_flow_run_outputs for its outputs.")  # fmt: skip
    if e.status == "Cancelled":
        return Decision("cancelled", "The run was cancelled.", "Someone or something cancelled it.",
                        "Start it again with run_desktop_flow if it is still needed.")  # fmt: skip
    if e.status == "Running":
        where = f" on {e.machine.name}" if e.machine else ""
        return Decision("running", f"The run is running{where}.", "A machine took the run and is executing it.",
                        "Call wait_for_desktop_flow_run to follow it.")  # fmt: skip
    if e.status == "Waiting":
        return _waiting(e)
    return _failed(e)


def _unavailable(e: Evidence) -> str | None:
    """Why no target machine can take a run, or None when one can (or nothing could be read)."""
    if e.group is not None and e.group.kind == "hosted" and (e.group.provisioning == "Error" or e.group.error):
        return f"The hosted machine group {e.group.name} failed to provision" + (
            f": {e.group.error}" if e.group.error else "."
        )
    if e.targets is None:
        return None
    if not e.targets:
        return f"The machine group {e.group.name if e.group else ''} has no machines.".replace("  ", " ")
    if any(machine.health == "online" for machine in e.targets):
        return None
    shown = "; ".join(f"{m.name} is {m.health} ({m.health_reason})" for m in e.targets[:5])
    return f"No machine the run can go to is online: {shown}."


def _admin_for_machines(e: Evidence) -> str:
    if e.group is not None and e.group.kind == "hosted" and (e.group.provisioning == "Error" or e.group.error):
        return "Fix the hosted group's provisioning error in Power Automate (Monitor > Machines), then re-provision."
    if e.targets is not None and not e.targets:
        return "Add at least one machine to the machine group."
    return (
        "Bring a target machine online: switch it on, sign it in to Power Automate for desktop (the machine runtime), "
        "check its network, and take it out of maintenance."
    )


def _waiting(e: Evidence) -> Decision:
    waited = f"Waiting for a machine for {e.minutes} min"
    blocked = _unavailable(e)
    if blocked:
        return Decision("queued_machine_unavailable", f"{waited}: no machine can take it.", blocked,
                        "Do not start it again: it would queue too. Wait for the machine, or cancel and run it on "
                        "another connection.", _admin_for_machines(e))  # fmt: skip
    q = e.queue
    if q is not None and (q.runs_ahead > 0 or (q.capacity and q.running >= q.capacity)):
        cause = f"{q.runs_ahead} run(s) are ahead of it and {q.running} running on {q.capacity} session slot(s)."
        return Decision("queued_behind_others", f"{waited}: the machines are busy.", cause,
                        "Wait: it starts when the runs ahead finish. Do not start it again.",
                        "Add machines or sessions to the group if the queue is often this long.")  # fmt: skip
    licence = e.licence
    if licence is not None and licence.ok is False:
        return Decision("queued", f"{waited}; its licence check failed.", licence.finding or "",
                        "Ask for the licence named below.", licence.finding)  # fmt: skip
    cause = "A target machine is online and nothing is ahead of it: a machine should pick it up soon."
    if e.targets is None:
        cause = "Nothing this identity can see explains the wait (machines could not be read)."
    return Decision("queued", f"{waited}.", cause, "Call wait_for_desktop_flow_run to follow it.")


def _failed(e: Evidence) -> Decision:
    failure = e.failure or RunFailure()
    code = failure.code or "no error code"
    licence = e.licence
    if licence is not None and licence.ok is False and not e.started:
        return Decision("failed_licence", f"The run failed ({code}): a licence is missing.", licence.finding or "",
                        "Ask your administrator for the licence named below, then run again.",
                        licence.finding)  # fmt: skip
    if failure.code == "NoCandidateMachine" or (not e.started and not failure.code):
        blocked = _unavailable(e)
        if blocked:
            return Decision("failed_no_machine", f"The run failed ({code}): no machine could take it.", blocked,
                            "Run it again once an administrator has made a machine available (below).",
                            _admin_for_machines(e))  # fmt: skip
        cause = (
            "A target machine was online, yet none took the run in time: they were busy, a session of the "
            "connection's user blocked it, or (unattended) the machine has no unattended bot, i.e. no Power "
            "Automate Process licence allocated."
        )
        return Decision("failed_no_machine", f"The run failed ({code}): no machine took it in time.", cause,
                        failure.fix or "Run again later.", failure.admin_fix)  # fmt: skip
    if failure.documented and failure.code != "DesktopFlowsActionTimeout":
        return Decision("failed_machine_or_session", f"The run failed ({code}).", failure.meaning or "",
                        failure.fix or "Run again.", failure.admin_fix)  # fmt: skip
    where = f" at action {e.last_failed_action!r}" if e.last_failed_action else ""
    said = failure.message or code
    named = bool(e.last_failed_action) and said.startswith(f"{e.last_failed_action}:")
    cause = failure.meaning or f"The desktop flow reported an error{'' if named else where}: {said}"
    return Decision("failed_in_flow", f"The run failed inside the flow{where} ({code}).", cause,
                    failure.fix or "Fix the inputs or the flow, then run again.", failure.admin_fix)  # fmt: skip
