"""Runs that cannot be started or cancelled as asked: inputs over Dataverse's limit, a run already finished."""

from __future__ import annotations

from .taxonomy import DesktopFlowsError, ErrorCode


def inputs_too_large(size: int, limit: int) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INPUT_TOO_LARGE,
        f"The serialised inputs are {size:,} bytes; Dataverse accepts at most {limit:,} (2 MB). Nothing was sent.",
        hint="Pass large content by reference (a file path or URL the flow can read) instead of inline.",
    )


def run_already_finished(run_id: str, status: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.CONFLICT,
        f"Run {run_id} already finished with status {status}; there is nothing to cancel.",
        hint="Call get_desktop_flow_run to read its result.",
    )
