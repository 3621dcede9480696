"""The short hints a run read carries (get_desktop_flow_run, the waits), drawn from the one error-code table.

A run's ``error.hint`` is the documented meaning and the person's fix of its ``errorcode`` (``error_codes``);
``retryable`` says whether running it again unchanged may succeed. The run's own ``hint`` points at
``diagnose_desktop_flow_run`` when the run failed, or has waited in the queue longer than ``QUEUED_LONG``: the
cheap reads stay cheap, and the diagnosis (machines, queue, logs, licences) is one call away.
"""

from __future__ import annotations

from datetime import datetime, timedelta

QUEUED_LONG = timedelta(minutes=5)
FAILED_STATUSES = frozenset({"Failed", "Faulted", "TimedOut", "Aborted"})
DIAGNOSE_FAILED = "Call diagnose_desktop_flow_run with this run_id for the cause, evidence and what to do."
_TIMED_OUT = (
    "The run exceeded the timeout it was started with. Run it again with a larger timeout_seconds (up to 86400) "
    "if the flow legitimately needs longer.",
    False,
)
_IN_FLOW = (
    "The desktop flow itself reported this error. Read the message; fix the inputs or the flow, then run it again.",
    False,
)


def hint_for(error_code: str | None, status: str) -> tuple[str, bool]:
    """(hint, retryable) for a finished run's error code; a general one for codes the table does not know."""
    from .facts import run_error  # the tables load with the first failed run, not at start-up

    entry = run_error(error_code)
    if entry is not None:
        return f"{entry.meaning} {entry.person_fix}", entry.retryable
    if status == "TimedOut":
        return _TIMED_OUT
    if status == "Cancelled":
        return ("The run was cancelled. Start it again with run_desktop_flow if it is still needed.", False)
    return _IN_FLOW


def queued_hint(status: str, created_on: datetime | None, now: datetime) -> str | None:
    """The hint of a run that has waited long for a machine, or None."""
    if status != "Waiting" or created_on is None or now - created_on <= QUEUED_LONG:
        return None
    minutes = int((now - created_on).total_seconds() // 60)
    return (
        f"Queued for {minutes} minutes. Call diagnose_desktop_flow_run to see why (machine offline, queue, "
        "licence); do not start the run again."
    )
