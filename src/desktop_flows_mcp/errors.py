"""One error type for every failure an agent can see, and the one table that builds it from Dataverse.

The categories (``ErrorCode``) are a public API: tools return them in ``structuredContent.error.code``.

    invalid_argument          the call's arguments are wrong; fix them and call again
    not_found                 the flow or run does not exist (or this identity cannot see it)
    unauthenticated           no usable token; the sign-in must be fixed, not retried
    permission_denied         the identity lacks a Dataverse privilege or security role
    throttled                 a rate limit was hit; retry after ``retry_after_seconds``
    flow_not_allowed          DESKTOP_FLOWS_ALLOWED refuses this flow; nothing was sent
    input_too_large           the serialised inputs exceed Dataverse's 2 MB limit
    conflict                  the request clashes with the current state (run already finished, key reused)
    dataverse_unavailable     Dataverse or the network failed; usually transient
    timeout                   Dataverse did not answer in time
    internal                  a bug on our side or an unexpected answer; report it
    shared_state_unavailable  the replicas' shared store (Redis) is unreachable; no run was started, retry soon

``from_status`` is the only place that reads HTTP status codes and Dataverse ``0x8004…`` codes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    THROTTLED = "throttled"
    FLOW_NOT_ALLOWED = "flow_not_allowed"
    INPUT_TOO_LARGE = "input_too_large"
    CONFLICT = "conflict"
    DATAVERSE_UNAVAILABLE = "dataverse_unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"
    SHARED_STATE_UNAVAILABLE = "shared_state_unavailable"


class DesktopFlowsError(Exception):
    """A failure with everything an agent needs to decide its next move. Immutable once built: the wording and
    flags are decided here, by the constructors below, never rewritten further up."""

    code: ErrorCode
    message: str
    hint: str | None
    retryable: bool
    http_status: int | None
    dataverse_code: str | None
    retry_after_seconds: float | None
    outcome_unknown: bool  # a run request that failed but may still have started a run (5xx, read timeout)

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        hint: str | None = None,
        retryable: bool = False,
        http_status: int | None = None,
        dataverse_code: str | None = None,
        retry_after_seconds: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        fields = {
            "code": code,
            "message": message,
            "hint": hint,
            "retryable": retryable,
            "http_status": http_status,
            "dataverse_code": dataverse_code,
            "retry_after_seconds": retry_after_seconds,
            "outcome_unknown": outcome_unknown,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("__"):  # Python itself sets __traceback__, __cause__, __notes__
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"DesktopFlowsError is immutable; build a new one in errors.py (tried to set {name})")

    def to_payload(self) -> dict[str, Any]:
        """The contract's error object (``structuredContent["error"]``)."""
        payload: dict[str, Any] = {
            "code": self.code.value,
            "message": self.message,
            "retryable": self.retryable,
            "http_status": self.http_status,
            "dataverse_code": self.dataverse_code,
            "hint": self.hint,
        }
        if self.retry_after_seconds is not None:
            payload["retry_after_seconds"] = round(self.retry_after_seconds, 1)
        return payload

    def __repr__(self) -> str:
        return f"DesktopFlowsError({self.code.value!r}, {self.message!r})"


def invalid_argument(message: str, hint: str | None = None) -> DesktopFlowsError:
    return DesktopFlowsError(ErrorCode.INVALID_ARGUMENT, message, hint=hint)


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
}


def _category_for_status(status: int) -> ErrorCode:
    if status in (400, 405, 422):
        return ErrorCode.INVALID_ARGUMENT
    if status == 401:
        return ErrorCode.UNAUTHENTICATED
    if status == 403:
        return ErrorCode.PERMISSION_DENIED
    if status in (404, 410):
        return ErrorCode.NOT_FOUND
    if status in (409, 412):
        return ErrorCode.CONFLICT
    if status == 413:
        return ErrorCode.INPUT_TOO_LARGE
    if status == 429:
        return ErrorCode.THROTTLED
    if status in (408, 504):
        return ErrorCode.TIMEOUT
    if status == 501:
        return ErrorCode.INTERNAL
    if status >= 500:
        return ErrorCode.DATAVERSE_UNAVAILABLE
    return ErrorCode.INTERNAL


_RETRYABLE = {ErrorCode.THROTTLED, ErrorCode.DATAVERSE_UNAVAILABLE, ErrorCode.TIMEOUT}

_RUN_READ_OPERATIONS = {"read_run", "read_outputs", "list_runs"}
MACHINES_PRIVILEGE = (
    "Read on the Flow Machine and Flow Machine Group tables (prvReadflowmachine, prvReadflowmachinegroup), e.g. "
    "through the Desktop Flows Machine Owner role, or machines and groups shared with this identity"
)
LOGS_PRIVILEGE = "Read on the Flow Log table (prvReadflowlog); logs inherit access from their run"


def _hint(code: ErrorCode, operation: Operation, retry_after: float | None) -> str:
    if code is ErrorCode.PERMISSION_DENIED:
        if operation in _RUN_READ_OPERATIONS or operation == "cancel_run":
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
        if operation in _RUN_READ_OPERATIONS or operation == "cancel_run":
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


# ---- the other constructors: every error an agent can see is worded here ----------------------------------


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


def shared_state_unavailable(problem: str) -> DesktopFlowsError:
    """Redis (shared by the replicas) is unreachable: a run start fails closed rather than skip its idempotency
    check or the fleet's run limit."""
    return DesktopFlowsError(
        ErrorCode.SHARED_STATE_UNAVAILABLE,
        f"This server cannot reach its shared store (Redis: {problem}), which it needs to check the idempotency key "
        "and the connection's run limit. No run was started.",
        hint="Retry the same call in a few seconds; reading flows and runs still works. If it persists, tell the "
        "operator that Redis is unreachable.",
        retryable=True,
        retry_after_seconds=5.0,
    )


def not_allowed(flow: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.FLOW_NOT_ALLOWED,
        f"Desktop flow {flow!r} is not in DESKTOP_FLOWS_ALLOWED, so this server will not run it. Nothing was sent.",
        hint="Call list_desktop_flows and pick a flow whose runnable is true, or ask the person who configured this "
        "server to add the flow to DESKTOP_FLOWS_ALLOWED.",
    )


def flow_name_not_found(name: str, suggestions: list[str]) -> DesktopFlowsError:
    if suggestions:
        hint = "Did you mean " + ", ".join(repr(s) for s in suggestions) + "? Names must match exactly."
    else:
        hint = f"Names must match exactly. Call list_desktop_flows with search={name[:30]!r} to find it."
    return DesktopFlowsError(ErrorCode.NOT_FOUND, f"No desktop flow is named {name!r}.", hint=hint)


def flow_id_not_found(flow_id: str, cause: DesktopFlowsError) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.NOT_FOUND,
        f"No desktop flow has id {flow_id}. ({cause.message})",
        hint=cause.hint,
        http_status=cause.http_status,
        dataverse_code=cause.dataverse_code,
    )


def flow_tool_gone(tool: str, flow_name: str, why: str) -> DesktopFlowsError:
    """A per-flow tool whose flow was deleted, unpublished or taken off the allow-list; nothing was started."""
    return DesktopFlowsError(
        ErrorCode.NOT_FOUND,
        f"{tool} has no flow behind it any more: desktop flow {flow_name!r} {why}. Nothing was started.",
        hint="The tool list was refreshed: list the tools again, or call list_desktop_flows to pick another flow.",
    )


def not_a_desktop_flow(flow_id: str, category: object) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.NOT_FOUND,
        f"Workflow {flow_id} exists but is not a desktop flow (category {category}).",
        hint="Call list_desktop_flows to see the desktop flows in this environment.",
    )


def internal_crash(tool: str, exc: BaseException) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INTERNAL,
        f"Unexpected {type(exc).__name__} in {tool}; the details are in the server log.",
        hint="This is a bug in desktop-flows-mcp. Retry once; if it repeats, report it with the log.",
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


# ---- text from Dataverse or a flow: capped and scrubbed before an agent or a log sees it -------------------

MAX_TEXT = 2048
_CREDENTIAL = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"  # an Authorization header value
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # a JWT anywhere
    r"|((?:client_secret|password|secret|access_token|refresh_token|sig)\s*[=:]\s*)[^\s&,;\"']+"
)


def scrub(text: str) -> str:
    """Replace anything that looks like a bearer token, a JWT or a secret parameter with [redacted]."""
    return _CREDENTIAL.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)


def cap(text: str, limit: int = MAX_TEXT) -> str:
    """At most ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 20].rstrip() + " ...[cut, too long]"


def run_accepted_without_id() -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INTERNAL,
        "Dataverse accepted the run but returned no flowsessionId.",
        hint="Call list_desktop_flow_runs for this flow to find the run; do not start it again.",
    )
