from __future__ import annotations

import pytest

from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode, from_status
from desktop_flows_mcp.errors.text import scrub


@pytest.mark.parametrize(
    ("status", "code", "expected", "retryable"),
    [
        (400, "0x0", ErrorCode.INVALID_ARGUMENT, False),
        (401, None, ErrorCode.UNAUTHENTICATED, False),
        (403, "0x80040220", ErrorCode.PERMISSION_DENIED, False),
        (403, "0x80095ffc", ErrorCode.PERMISSION_DENIED, False),
        (401, "0x8005F101", ErrorCode.UNAUTHENTICATED, False),
        (404, "0x80040217", ErrorCode.NOT_FOUND, False),
        (404, "0x8006088a", ErrorCode.INTERNAL, False),
        (409, None, ErrorCode.CONFLICT, False),
        (413, None, ErrorCode.INPUT_TOO_LARGE, False),
        (429, "0x80072322", ErrorCode.THROTTLED, True),
        (429, "0x80072326", ErrorCode.THROTTLED, True),
        (500, "0x80040216", ErrorCode.DATAVERSE_UNAVAILABLE, True),
        (503, None, ErrorCode.DATAVERSE_UNAVAILABLE, True),
        (504, None, ErrorCode.TIMEOUT, True),
        (501, None, ErrorCode.INTERNAL, False),
    ],
)
def test_status_and_dataverse_code_map_to_one_category(
    status: int, code: str | None, expected: ErrorCode, retryable: bool
) -> None:
    error = from_status(status, code, "m", operation="list_flows")
    assert (error.code, error.retryable) == (expected, retryable)
    assert error.hint


def test_a_5xx_on_a_run_is_never_marked_retryable() -> None:
    assert not from_status(503, None, "busy", operation="run_flow").retryable
    assert from_status(429, "0x80072322", "slow", operation="run_flow", retry_after=5).retryable


def test_a_missing_message_is_replaced_by_a_readable_one() -> None:
    assert (
        from_status(502, "", "  ", operation="read_run").message == "Dataverse answered HTTP 502 with no error message."
    )


def test_payload_has_exactly_the_contract_fields() -> None:
    error = DesktopFlowsError(
        ErrorCode.THROTTLED, "slow", hint="wait", retryable=True, http_status=429, retry_after_seconds=7.25
    )
    assert error.to_payload() == {
        "code": "throttled",
        "message": "slow",
        "retryable": True,
        "http_status": 429,
        "dataverse_code": None,
        "hint": "wait",
        "retry_after_seconds": 7.2,
    }


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (
            "The user is not authenticated. Send a valid bearer token in the Authorization header.",
            "The user is not authenticated. Send a valid bearer token in the Authorization header.",
        ),
        ("Authorization: Bearer Zm9vYmFy-42.x~y", "Authorization: Bearer [redacted]"),
        ("authorization: bearer abcdefghijklmnopqrstuvwxyz", "authorization: bearer [redacted]"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.", "Bearer [redacted]"),
    ],
    ids=["prose", "opaque-token", "letters-only-token", "jwt"],
)
def test_scrub_redacts_bearer_credentials_but_not_the_word_token(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed
