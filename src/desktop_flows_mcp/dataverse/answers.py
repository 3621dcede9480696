"""Reading Dataverse's answers: JSON bodies and rows checked for shape, and a failed response as the one
``DesktopFlowsError`` that ``errors.from_status`` words for it.
"""

from __future__ import annotations

from typing import Any, cast

import httpx

from ..errors import DesktopFlowsError, Operation, from_status, transport_error, unexpected_answer
from ..models import Row


async def error_from(
    response: httpx.Response, operation: Operation, retry_after: float | None = None
) -> DesktopFlowsError:
    await response.aread()
    code: str | None = None
    message: str | None = None
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError, RecursionError):  # the parser's own limit: it raises, it never crashes
        body = None
    error = as_object(as_object(body).get("error"))
    if error:
        raw_code, raw_message = error.get("code"), error.get("message")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            raw_code = f"0x{raw_code & 0xFFFFFFFF:08x}"  # a signed decimal code, as some gateways send it
        code = raw_code.strip() if isinstance(raw_code, str) and raw_code.strip() else None
        message = raw_message if isinstance(raw_message, str) else None
    elif response.content:
        kind = "an HTML page" if b"<html" in response.content[:512].lower() else "a body that is not Dataverse JSON"
        message = f"Dataverse (or a proxy in front of it) answered HTTP {response.status_code} with {kind}."
    return from_status(response.status_code, code, message, operation=operation, retry_after=retry_after)


def transport_failure(exc: httpx.TransportError, operation: Operation, *, sent: bool) -> DesktopFlowsError:
    host = exc.request.url.host if _has_request(exc) else "Dataverse"
    timed_out = isinstance(exc, httpx.TimeoutException)
    what = f"{'Timed out talking to' if timed_out else 'Could not reach'} {host} ({type(exc).__name__})."
    return transport_error(what, timed_out=timed_out, operation=operation, sent=sent)


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018  # raises RuntimeError when the exception carries no request
    except RuntimeError:
        return False
    return True


def as_object(value: Any) -> Row:
    """``value`` if it is a JSON object, else an empty one."""
    return cast(Row, value) if isinstance(value, dict) else {}


def rows_of(body: Row, operation: Operation) -> list[Row]:
    rows: Any = body.get("value")
    if not isinstance(rows, list):
        raise unexpected_answer(operation, "a list response without 'value'")
    return [as_object(row) for row in cast(list[Any], rows)]


def json_object(response: httpx.Response, operation: Operation) -> Row:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise unexpected_answer(operation, "a body that is not JSON, or nested past any sense") from exc
    if not isinstance(body, dict):
        raise unexpected_answer(operation, "JSON that is not an object")
    return cast(Row, body)
