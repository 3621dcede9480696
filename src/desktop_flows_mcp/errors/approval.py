"""A start or cancel a person must approve first (``approval/``): asked, declined, or a confirm_token that does not fit.

None of them is retryable: an agent that calls again on its own has not asked the person.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .taxonomy import DesktopFlowsError, ErrorCode

_ACTS = {"run": "starting this run", "cancel": "cancelling this run"}


def approval_required(action: str, preview: Mapping[str, Any], token: str, expires_in: float) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.APPROVAL_REQUIRED,
        f"A person must approve {_ACTS.get(action, action)} first (DESKTOP_FLOWS_APPROVAL); nothing was sent.",
        hint="Show approval.preview to the person. Only after they agree, call again with the same arguments plus "
        f"confirm_token (single use, valid {int(expires_in // 60)} minutes). Never confirm on their behalf.",
        approval={"preview": dict(preview), "confirm_token": token, "expires_in_seconds": int(expires_in)},
    )


def approval_declined(action: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.APPROVAL_DECLINED,
        f"The person did not approve {_ACTS.get(action, action)} (declined, or no answer in time); nothing was sent.",
        hint="Do not call again unless the person asks you to.",
    )


def approval_invalid(why: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.APPROVAL_INVALID,
        f"The confirm_token is {why}; nothing was sent.",
        hint="Call again without confirm_token to get a fresh preview and token, and show it to the person first. "
        "A token fits one call: the same caller, tool and arguments, once, within 5 minutes.",
    )


def approval_needs_tool_call(run_id: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.APPROVAL_REQUIRED,
        f"Cancelling run {run_id} needs a person's approval, which tasks/cancel cannot ask for; nothing was sent.",
        hint="Call cancel_desktop_flow_run with this run_id: it asks the person, or returns a preview and a "
        "confirm_token.",
    )
