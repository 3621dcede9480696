"""The action-log tail of a run (flowlog, logs V2), or a plain statement of why the run has none.

The tail is the last ``TAIL_ACTIONS`` actions, cut further to about ``TAIL_BYTES`` of action text, oldest first
(ordered by the documented key ``data.startTime``). Why a run can have no logs (LOGS, reference section 4.2):
it never started; the environment disables logs or keeps them only for failed runs; it keeps them in V1 (the
run's ``additionalcontext`` file, not read here); the run was started through the Web API (``triggertype`` 3,
as this server starts runs); they expired (``flowlogsttlinminutes``); or this identity may not read them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

from ..bounds import MAX_MESSAGE_DEPTH, MAX_NAME, clean, clean_secret_free, json_too_deep
from ..errors import LOGS_PRIVILEGE
from ..knowledge.facts import LOG_LEVEL, label
from ..models import Row
from ..models.logs import LogRow, LogSettings
from .results import Action, ActionLog

TAIL_ACTIONS = 20
TAIL_BYTES = 8 * 1024
ACTION_ERROR_LIMIT = 600
ENABLED, ON_FAILURE, DISABLED = 0, 1, 2
V1_ONLY = 0
WEB_API_TRIGGER = 3


def tail(rows: list[Row]) -> ActionLog:
    """Newest-first rows → at most TAIL_BYTES of the newest actions, oldest first."""
    actions: list[tuple[str, Action]] = []
    size = 0
    for row in map(LogRow.from_row, rows[:TAIL_ACTIONS]):
        action = _action(row)
        weight = len(action.model_dump_json(exclude_none=True).encode())
        if actions and size + weight > TAIL_BYTES:
            break
        size += weight
        actions.append((action.at or row.created_on or "", action))
    actions.sort(key=lambda item: item[0])
    note = None
    if len(actions) < len(rows) or len(rows) >= TAIL_ACTIONS:
        note = f"The last {len(actions)} actions; earlier ones are in the Power Automate portal (run details)."
    return ActionLog(actions=[action for _, action in actions], note=note)


def _action(row: LogRow) -> Action:
    data: Any = None
    raw = row.data
    if raw and not json_too_deep(raw, MAX_MESSAGE_DEPTH):  # a machine wrote it: too deep, it is shown as text
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
    fields = cast(dict[str, Any], data) if isinstance(data, dict) else {}

    def field(name: str) -> str | None:
        value = fields.get(name)
        return value if isinstance(value, str) and value else None

    def shown(value: str | None, limit: int) -> str | None:  # the flow's author wrote it: scrubbed like errors
        return (clean_secret_free(value, limit) or None) if value else None

    error = field("error") or (None if fields or not raw else raw)
    return Action(
        at=shown(field("startTime") or row.created_on, MAX_NAME),
        name=shown(field("name") or row.name, MAX_NAME),
        status=(clean(field("status") or "", MAX_NAME) or None),
        level=label(LOG_LEVEL, row.level),
        error=shown(error, ACTION_ERROR_LIMIT),
    )


def why_no_logs(
    *, started: bool, failed: bool, trigger_type: int | None, completed_on: datetime | None, settings: Row | None,
    now: datetime,
) -> str:  # fmt: skip
    """A plain sentence: why this run shows no action log."""
    if not started:
        return "The run never started on a machine, so no action ran and nothing was logged."
    read = LogSettings.from_row(settings)
    status, version, ttl = read.status, read.version, read.ttl_minutes
    if status == DISABLED:
        return "Action logs are disabled in this environment (Power Platform admin center > desktop flow run logs)."
    if version == V1_ONLY:
        return (
            "This environment keeps action logs as V1, in the run's additionalcontext file, which this tool does not "
            "read: open the run in the Power Automate portal."
        )
    if status == ON_FAILURE and not failed:
        return "This environment keeps action logs only for failed runs (setting: On run failure)."
    if trigger_type == WEB_API_TRIGGER:
        return (
            "The run was started through the Dataverse Web API (RunDesktopFlow, as this server starts runs); only "
            "runs started from a cloud flow log their actions."
        )
    if ttl and completed_on is not None and now - completed_on > timedelta(minutes=ttl):
        return f"Action logs are kept {ttl // 1440} days here (flowlogsttlinminutes {ttl}); this run's have expired."
    if completed_on is None:
        return "No action has been logged yet."
    return "No action logs were found for this run."


def unreadable_logs() -> str:
    return f"action log: needs {LOGS_PRIVILEGE}"
