"""Failures of a call to Dataverse (or its discovery service) that the status table alone does not word."""

from __future__ import annotations

from .status_table import RUN_OUTCOME_UNKNOWN_HINT, Operation, from_status
from .taxonomy import DesktopFlowsError, ErrorCode


def transport_error(what: str, *, timed_out: bool, operation: Operation, sent: bool) -> DesktopFlowsError:
    """The network failed. ``sent``: the request may have reached Dataverse (so a run may have started)."""
    code = ErrorCode.TIMEOUT if timed_out else ErrorCode.DATAVERSE_UNAVAILABLE
    if operation == "run_flow" and sent:
        return DesktopFlowsError(code, what, hint=RUN_OUTCOME_UNKNOWN_HINT, retryable=False, outcome_unknown=True)
    return DesktopFlowsError(
        code, what, hint="Check the network and DATAVERSE_URL, then retry in a few seconds.", retryable=True
    )


def unexpected_answer(operation: str, what: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INTERNAL,
        f"Dataverse answered {operation} with {what}.",
        hint="This is unexpected; retry once, and report it if it persists.",
    )


def throttled(message: str, *, retry_after: float | None) -> DesktopFlowsError:
    when = f"after {retry_after:.0f} seconds" if retry_after is not None else "shortly"
    return DesktopFlowsError(
        ErrorCode.THROTTLED,
        message,
        hint=f"Retry the same call {when}. Do not retry in a tight loop.",
        retryable=True,
        http_status=429,
        retry_after_seconds=retry_after,
    )


def discovery_failed(base_url: str, status: int) -> DesktopFlowsError:
    """The Global Discovery Service refused; DATAVERSE_URL itself is not affected."""
    mapped = from_status(status, None, None, operation="who_am_i")
    if status == 401:
        hint = (
            "The discovery service refused the person's token. The app registration needs the delegated "
            "permission Dynamics CRM > user_impersonation with consent; DATAVERSE_URL itself still works. "
            "Call check_access to see what this identity can do there."
        )
    elif mapped.retryable:
        hint = mapped.hint
    else:
        hint = (
            "The discovery service could not list environments for this person; DATAVERSE_URL itself is not "
            "affected. Check DATAVERSE_AUTHORITY_HOST and the cloud of DATAVERSE_URL, or call check_access."
        )
    return DesktopFlowsError(
        mapped.code,
        f"The Global Discovery Service ({base_url}) answered HTTP {status}.",
        hint=hint,
        retryable=mapped.retryable,
        http_status=status,
    )


def discovery_unreachable(base_url: str, exc: BaseException) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.DATAVERSE_UNAVAILABLE,
        f"Could not reach the Global Discovery Service at {base_url} ({type(exc).__name__}).",
        hint="Check the network and retry in a few seconds.",
        retryable=True,
    )


def run_accepted_without_id() -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INTERNAL,
        "Dataverse accepted the run but returned no flowsessionId.",
        hint="Call list_desktop_flow_runs for this flow to find the run; do not start it again.",
    )
