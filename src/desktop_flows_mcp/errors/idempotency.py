"""An idempotency key whose earlier start is uncertain: wait and call again, or decide among the runs named."""

from __future__ import annotations

from .taxonomy import DesktopFlowsError, ErrorCode


def _named(runs: list[str]) -> str:
    shown = ", ".join(runs[:20]) + (f" and {len(runs) - 20} more" if len(runs) > 20 else "")
    return f"{len(runs)} run(s) with the same flow, connection, inputs and identity but without its marker: {shown}"


def run_status_unknown(retry_after: float, horizon_in: float, look_alikes: list[str]) -> DesktopFlowsError:
    """Before the horizon: Dataverse may still create the earlier attempt's run, so nothing is started."""
    found = f" Found {_named(look_alikes)}; none is proven to be it." if look_alikes else ""
    return DesktopFlowsError(
        ErrorCode.RUN_STATUS_UNKNOWN,
        "An earlier call with this idempotency_key may have started a run that Dataverse has not shown yet; "
        f"it can still appear for {horizon_in:.0f} s. No run was started.{found}",
        hint=f"Do not start it again, and do not use a new key for it. Call again with the same idempotency_key "
        f"after {retry_after:.0f} s: you get the run once it appears, or a fresh start once it no longer can.",
        retryable=True,
        retry_after_seconds=retry_after,
    )


def uncertain_keyed_start(error: DesktopFlowsError, retry_after: float) -> DesktopFlowsError:
    """A start with an idempotency_key whose outcome is unknown (5xx, timeout, dropped connection): the key makes
    calling again safe, so the agent is told to do exactly that, not to look for the run itself (a late run
    would not show yet)."""
    return DesktopFlowsError(
        error.code,
        error.message,
        hint="The run may or may not have started. Do not start it without this key, and do not use a new key "
        f"for it: call again with the same idempotency_key after {retry_after:.0f} s. You get the run once "
        "Dataverse shows it, run_status_unknown while it may still appear, or one fresh start once it no longer can.",
        retryable=True,
        http_status=error.http_status,
        dataverse_code=error.dataverse_code,
        retry_after_seconds=retry_after,
        outcome_unknown=True,
    )


def unproven_runs(look_alikes: list[str]) -> DesktopFlowsError:
    """After the horizon: runs that look like the attempt's exist, but none carries its marker."""
    return DesktopFlowsError(
        ErrorCode.CONFLICT,
        "An earlier call with this idempotency_key failed without an answer, and Dataverse shows "
        f"{_named(look_alikes)}. None is proven to be this key's run, so none was adopted and no run was started.",
        hint="Call get_desktop_flow_run on each to decide whether one is the run you wanted; to start another "
        "anyway, use a new idempotency_key.",
    )


def key_store_unavailable(where: str, problem: str) -> DesktopFlowsError:
    """The idempotency key file cannot be read or written: a keyed start fails closed rather than skip its check."""
    return DesktopFlowsError(
        ErrorCode.SHARED_STATE_UNAVAILABLE,
        f"This server cannot use its idempotency key store ({where}: {problem}). No run was started.",
        hint="Retry the same call in a few seconds; reading flows and runs still works. If it persists, tell the "
        "operator (the folder is DESKTOP_FLOWS_STATE_DIR).",
        retryable=True,
        retry_after_seconds=5.0,
    )


def key_reused_with_other_arguments() -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.CONFLICT,
        "This idempotency_key was already used in the last 24 hours with different arguments.",
        hint="Use a new idempotency_key for a different run, or repeat the original arguments exactly.",
    )


def too_many_candidates(most: int) -> DesktopFlowsError:
    """More runs of the flow since the failed attempt than can be searched for its marker."""
    return DesktopFlowsError(
        ErrorCode.CONFLICT,
        f"The earlier attempt with this idempotency_key failed without an answer, and more than {most} runs of this "
        "flow were started since, too many to tell which one it made. No run was started.",
        hint="Find the run with list_desktop_flow_runs before starting another; do not retry with this key.",
    )
