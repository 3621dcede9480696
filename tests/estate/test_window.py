"""The summary's window: durations and ISO times, checked before any request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError
from desktop_flows_mcp.estate.window import window

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("7d", None, (NOW - timedelta(days=7), NOW)),
        ("24H", None, (NOW - timedelta(hours=24), NOW)),
        ("90m", "30m", (NOW - timedelta(minutes=90), NOW - timedelta(minutes=30))),
        ("2026-11-01", None, (datetime(2026, 11, 1, tzinfo=UTC), NOW)),
        ("2026-11-29T10:00:00+02:00", "2026-12-31T00:00:00Z", (datetime(2026, 11, 29, 8, tzinfo=UTC), NOW)),
        ("90d", None, (NOW - timedelta(days=90), NOW)),
    ],
)
def test_since_and_until_take_durations_and_iso_times(
    since: str, until: str | None, expected: tuple[datetime, datetime]
) -> None:
    assert window(since, until, NOW) == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("a week", None, "since must be an ISO time"),
        ("7d", "tomorrow", "until must be an ISO time"),
        ("2026-08-01", None, "at most 90 days"),
        ("1h", "2h", "must be before until"),
        ("2027-01-01", None, "must be before until"),
    ],
)
def test_a_window_that_is_not_one_is_refused(since: str, until: str | None, message: str) -> None:
    with pytest.raises(DesktopFlowsError) as caught:
        window(since, until, NOW)
    assert caught.value.code.value == "invalid_argument" and message in caught.value.message
