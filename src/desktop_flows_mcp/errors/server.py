"""Failures on this side of the wire: a bad argument, a bug, the replicas' shared store."""

from __future__ import annotations

from .taxonomy import DesktopFlowsError, ErrorCode


def invalid_argument(message: str, hint: str | None = None) -> DesktopFlowsError:
    return DesktopFlowsError(ErrorCode.INVALID_ARGUMENT, message, hint=hint)


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


def forbidden(tool: str, scope: str) -> DesktopFlowsError:
    """With Entra sign-in: the caller's token does not grant the scope this tool needs; nothing was sent."""
    return DesktopFlowsError(
        ErrorCode.FORBIDDEN,
        f"Your sign-in to this server does not grant {scope}, which {tool} needs; nothing was sent to Dataverse.",
        hint=f"Use the tools that tools/list shows you. To run or cancel flows, ask an administrator for {scope} "
        "(the server app's delegated scope or app role) and sign in again.",
    )


def internal_crash(tool: str, exc: BaseException) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INTERNAL,
        f"Unexpected {type(exc).__name__} in {tool}; the details are in the server log.",
        hint="This is a bug in desktop-flows-mcp. Retry once; if it repeats, report it with the log.",
    )


def shutting_down() -> DesktopFlowsError:
    """A start refused while this replica drains: it was never sent, so calling again (elsewhere) is safe."""
    return DesktopFlowsError(
        ErrorCode.DATAVERSE_UNAVAILABLE,
        "This server is shutting down, so it did not start the run; nothing was sent to Dataverse.",
        hint="Call again: another replica of the server takes the call.",
        retryable=True,
        retry_after_seconds=1.0,
    )


def cursor_of_another_caller(tool: str) -> DesktopFlowsError:
    """A cursor is its caller's: one person's page of a list is never continued for another."""
    return DesktopFlowsError(
        ErrorCode.INVALID_ARGUMENT,
        "The cursor was made for another caller's list; a cursor is valid only for the person it was given to.",
        hint=f"Call {tool} again without a cursor to start from your own first page.",
    )
