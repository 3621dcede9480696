"""The one table from an HTTP status plus a Dataverse ``0x8004…`` code to a category, with the agent's hint.

``from_status`` is the only place an HTTP status and a Dataverse code become a category and a hint. Elsewhere a
status is read only to decide what to do next: ``dataverse/core`` retries 429, 408 and 5xx, and tells Dataverse's
service-protection 429 codes from a connection's run limit.
"""

from __future__ import annotations

from typing import Literal

from .taxonomy import DesktopFlowsError, ErrorCode
from .text import cap, scrub

# What the request was doing when it failed; refines the hint, never the category.
Operation = Literal[
    "list_flows",
    "get_flow",
    "read_schema",
    "run_flow",
    "read_run",
    "read_outputs",
    "cancel_run",
    "list_runs",
    "list_connection_references",
    "who_am_i",
    "list_machines",
    "read_machines",
    "read_logs",
]

AGGREGATE_LIMIT_CODE = "0x8004e023"  # FetchXML "Aggregate data", Limitations; -2147164125


def exceeds_aggregate_limit(error: DesktopFlowsError) -> bool:
    """An aggregate query refused because it would see more than 50,000 rows: narrow it and ask again."""
    return (error.dataverse_code or "").lower() == AGGREGATE_LIMIT_CODE


# Dataverse codes that decide the category whatever the HTTP status says.
_DATAVERSE_CODES: dict[str, ErrorCode] = {
    "0x80040220": ErrorCode.PERMISSION_DENIED,  # PrivilegeDenied
    "0x80040231": ErrorCode.PERMISSION_DENIED,  # PrincipalPrivilegeDenied
    "0x80048306": ErrorCode.PERMISSION_DENIED,  # not enough privilege on the object
    "0x80040277": ErrorCode.PERMISSION_DENIED,  # UnauthorizedAccess
    "0x80048405": ErrorCode.PERMISSION_DENIED,  # AccessDenied
    "0x80095ffc": ErrorCode.PERMISSION_DENIED,  # API access restricted for this application id
    "0x8005f101": ErrorCode.UNAUTHENTICATED,  # AccessTokenExpired
    "0x80040217": ErrorCode.NOT_FOUND,  # ObjectDoesNotExist
    "0x80060891": ErrorCode.NOT_FOUND,  # RecordNotFoundByEntityKey
    "0x8006088a": ErrorCode.INTERNAL,  # "Resource not found for the segment": a wrong URL is our bug
    "0x80060888": ErrorCode.INVALID_ARGUMENT,  # unknown property / unsupported query
    "0x80048d19": ErrorCode.INVALID_ARGUMENT,  # ODataClientPayloadError
    "0x8004431a": ErrorCode.INVALID_ARGUMENT,  # PicklistValueOutOfRange
    "0x80040315": ErrorCode.INVALID_ARGUMENT,  # NotSupported
    "0x80040237": ErrorCode.CONFLICT,  # duplicate key
    "0x80040219": ErrorCode.INTERNAL,  # NotImplemented
    "0x80040216": ErrorCode.DATAVERSE_UNAVAILABLE,  # UnExpected
    "0x8005f103": ErrorCode.THROTTLED,  # Throttling
    "0x80072322": ErrorCode.THROTTLED,  # burst request limit
    "0x80072321": ErrorCode.THROTTLED,  # execution time limit
    "0x80072326": ErrorCode.THROTTLED,  # concurrency limit
    AGGREGATE_LIMIT_CODE: ErrorCode.INVALID_ARGUMENT,  # AggregateQueryRecordLimit: more than 50,000 rows
}


# HTTP statuses, when no Dataverse code decides; any other 5xx is dataverse_unavailable, anything else internal.
_STATUSES: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_ARGUMENT,
    405: ErrorCode.INVALID_ARGUMENT,
    422: ErrorCode.INVALID_ARGUMENT,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    410: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    412: ErrorCode.CONFLICT,
    413: ErrorCode.INPUT_TOO_LARGE,
    429: ErrorCode.THROTTLED,
    408: ErrorCode.TIMEOUT,
    504: ErrorCode.TIMEOUT,
    501: ErrorCode.INTERNAL,
}


def _category_for_status(status: int) -> ErrorCode:
    fallback = ErrorCode.DATAVERSE_UNAVAILABLE if status >= 500 else ErrorCode.INTERNAL
    return _STATUSES.get(status, fallback)


_RETRYABLE = {ErrorCode.THROTTLED, ErrorCode.DATAVERSE_UNAVAILABLE, ErrorCode.TIMEOUT}

_RUN_OPERATIONS = {"read_run", "read_outputs", "list_runs", "cancel_run"}
MACHINES_PRIVILEGE = (
    "Read on the Flow Machine and Flow Machine Group tables (prvReadflowmachine, prvReadflowmachinegroup), e.g. "
    "through the Desktop Flows Machine Owner role, or machines and groups shared with this identity"
)
LOGS_PRIVILEGE = "Read on the Flow Log table (prvReadflowlog); logs inherit access from their run"


def _hint(code: ErrorCode, operation: Operation, retry_after: float | None) -> str:
    if code is ErrorCode.PERMISSION_DENIED:
        if operation in _RUN_OPERATIONS:
            return (
                "Reading or cancelling a desktop flow run needs Owner-level access to the flowsession record, "
                "while starting a run needs only User privileges. Ask a Dataverse admin to give this identity a "
                "security role with read (and for cancel, write) access to Flow Sessions, or check the run in "
                "the Power Automate portal. Call check_access if available."
            )
        if operation in ("list_machines", "read_machines", "read_logs"):
            what = LOGS_PRIVILEGE if operation == "read_logs" else MACHINES_PRIVILEGE
            return f"Ask a Dataverse admin for {what}. Retrying will not help."
        if operation == "run_flow":
            return (
                "This identity may not run this desktop flow. Ask a Dataverse admin for a security role that "
                "includes the Process (workflow) privileges, or share the flow with it."
            )
        return (
            "The identity is missing a Dataverse privilege (named in the message). Ask a Dataverse admin to "
            "assign a security role that grants it; retrying will not help."
        )
    if code is ErrorCode.UNAUTHENTICATED:
        return (
            "Dataverse rejected the credentials. Check that DATAVERSE_URL is the environment the token was issued "
            "for and that the token or secret has not expired, then restart the server. If the token is valid, "
            "the identity may have no Dataverse user (application user) or no security role."
        )
    if code is ErrorCode.NOT_FOUND:
        if operation in _RUN_OPERATIONS:
            return "Check the run_id; call list_desktop_flow_runs to find recent runs."
        return "Check the flow id or name; call list_desktop_flows to see the desktop flows in this environment."
    if code is ErrorCode.THROTTLED:
        when = f"after {retry_after:.0f} seconds" if retry_after is not None else "after a short pause"
        return f"Dataverse is rate-limiting this identity. Retry the same call {when}; do not loop faster."
    if code is ErrorCode.INPUT_TOO_LARGE:
        return "Desktop flow inputs are limited to 2 MB; pass a reference (a file path or URL) instead of content."
    if code is ErrorCode.INVALID_ARGUMENT:
        return "Dataverse refused the request as written; read the message, fix the argument and call again."
    if code is ErrorCode.CONFLICT:
        return "Re-read the current state (get_desktop_flow_run) before trying again."
    if code is ErrorCode.TIMEOUT:
        return "Dataverse did not answer in time. Retry shortly."
    if code is ErrorCode.DATAVERSE_UNAVAILABLE:
        if operation == "run_flow":
            return RUN_OUTCOME_UNKNOWN_HINT
        return "Dataverse is temporarily unavailable. Retry in a few seconds."
    return "This looks like a bug in desktop-flows-mcp or an unexpected Dataverse answer; report it."


RUN_OUTCOME_UNKNOWN_HINT = (
    "The run request may or may not have started a run, so it was not retried automatically (a duplicate run "
    "is worse than an error). Call list_desktop_flow_runs for this flow to check for a new run before "
    "starting it again, or call run_desktop_flow again with the same idempotency_key."
)


def from_status(
    status: int,
    dataverse_code: str | None,
    dataverse_message: str | None,
    *,
    operation: Operation,
    retry_after: float | None = None,
) -> DesktopFlowsError:
    """Map an HTTP status plus Dataverse's error code to one category, with a hint for the agent."""
    normalised = dataverse_code.lower() if dataverse_code else None
    code = _DATAVERSE_CODES.get(normalised or "") or _category_for_status(status)
    if status == 429:
        code = ErrorCode.THROTTLED
    message = scrub(dataverse_message or "").strip() or f"Dataverse answered HTTP {status} with no error message."
    # A run request answered 5xx or 408 may still have started a run: never retryable, and the hint says why.
    outcome_unknown = operation == "run_flow" and (status >= 500 or status == 408)
    retryable = code in _RETRYABLE and not (operation == "run_flow" and code is not ErrorCode.THROTTLED)
    return DesktopFlowsError(
        code,
        cap(message),
        hint=RUN_OUTCOME_UNKNOWN_HINT if outcome_unknown else _hint(code, operation, retry_after),
        retryable=retryable,
        http_status=status,
        dataverse_code=dataverse_code or None,
        retry_after_seconds=retry_after,
        outcome_unknown=outcome_unknown,
    )
