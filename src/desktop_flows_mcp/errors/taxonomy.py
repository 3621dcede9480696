"""The error taxonomy: one error type for every failure an agent can see.

The categories (``ErrorCode``) are a public API: tools return them in ``structuredContent.error.code``.

    invalid_argument          the call's arguments are wrong; fix them and call again
    not_found                 the flow or run does not exist (or this identity cannot see it)
    unauthenticated           no usable token; the sign-in must be fixed, not retried
    permission_denied         the identity lacks a Dataverse privilege or security role
    forbidden                 the caller's sign-in to this server does not grant the tool (Flows.Run); nothing sent
    throttled                 a rate limit was hit; retry after ``retry_after_seconds``
    flow_not_allowed          DESKTOP_FLOWS_ALLOWED refuses this flow; nothing was sent
    input_too_large           the serialised inputs exceed Dataverse's 2 MB limit
    conflict                  the request clashes with the current state (run already finished, key reused)
    dataverse_unavailable     Dataverse or the network failed; usually transient
    timeout                   Dataverse did not answer in time
    internal                  a bug on our side or an unexpected answer; report it
    shared_state_unavailable  the replicas' shared store (Redis) is unreachable; no run was started, retry soon
    run_status_unknown        an earlier start with this idempotency_key may still create its run; none was started,
                              call again after ``retry_after_seconds``
    approval_required         a person must approve this start or cancel first; nothing was sent. ``approval`` holds
                              the preview to show them and a single-use ``confirm_token`` for the call after they agree
    approval_declined         the person declined (or did not answer); nothing was sent, do not retry on your own
    approval_invalid          the confirm_token is unknown, used, expired, or for other arguments or another caller
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    FORBIDDEN = "forbidden"
    THROTTLED = "throttled"
    FLOW_NOT_ALLOWED = "flow_not_allowed"
    INPUT_TOO_LARGE = "input_too_large"
    CONFLICT = "conflict"
    DATAVERSE_UNAVAILABLE = "dataverse_unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"
    SHARED_STATE_UNAVAILABLE = "shared_state_unavailable"
    RUN_STATUS_UNKNOWN = "run_status_unknown"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DECLINED = "approval_declined"
    APPROVAL_INVALID = "approval_invalid"


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
    approval: Mapping[str, Any] | None  # approval_required: the preview and the confirm_token

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
        approval: Mapping[str, Any] | None = None,
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
            "approval": approval,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("__"):  # Python itself sets __traceback__, __cause__, __notes__
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"DesktopFlowsError is immutable; build a new one in errors/ (tried to set {name})")

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
        if self.approval is not None:
            payload["approval"] = dict(self.approval)
        return payload

    def __repr__(self) -> str:
        return f"DesktopFlowsError({self.code.value!r}, {self.message!r})"
