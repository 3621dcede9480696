"""The window a summary covers: ``since`` and ``until`` as ISO times or durations, checked before any request.

A duration (``7d``, ``24h``, ``90m``) counts back from now. An ISO time without an offset is UTC; a date alone is
its midnight. The window is at most ``MAX_DAYS`` long and ends no later than now.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..errors import invalid_argument

MAX_DAYS = 90
_DURATION = re.compile(r"^\s*(\d{1,6})\s*(d|h|m)\s*$", re.IGNORECASE)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_FORMS = "an ISO time (2026-05-01T08:00:00Z, 2026-05-01) or a duration back from now (7d, 24h, 90m)"


def moment(text: str, *, argument: str, now: datetime) -> datetime:
    """``text`` as an aware UTC datetime, or invalid_argument naming the argument and the forms it takes."""
    match = _DURATION.match(text)
    if match:
        return now - int(match[1]) * _UNITS[match[2].lower()]
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid_argument(f"{argument} must be {_FORMS} (got {text[:40]!r}).") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def window(since: str, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """(since, until), checked: since before until, until not after now, at most MAX_DAYS long."""
    start = moment(since, argument="since", now=now)
    end = moment(until, argument="until", now=now) if until else now
    end = min(end, now)
    if start >= end:
        raise invalid_argument(
            f"since ({_shown(start)}) must be before until ({_shown(end)}, no later than now).",
            hint="Pass since as a duration such as 7d, or an ISO time in the past.",
        )
    if end - start > timedelta(days=MAX_DAYS):
        raise invalid_argument(
            f"The window is at most {MAX_DAYS} days (got {(end - start).days} days from {_shown(start)}).",
            hint=f"Pass since as {MAX_DAYS}d or less, or set until.",
        )
    return start, end


def _shown(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
