"""The request-sending core of the Dataverse client: one ``_send`` with retries, throttling and run-rate limits,
JSON reads, file columns, and paging that never follows a link out of this environment.

The Web API methods live in ``flow_operations.py`` and ``diagnosis_reads.py``; ``client.py`` puts them together.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..clock import SYSTEM_CLOCK, Clock
from ..config.urls import is_loopback_host
from ..errors import DesktopFlowsError, ErrorCode, Operation, invalid_argument, unexpected_answer
from ..models import Row
from ..readiness import StartsInFlight
from ..telemetry import NO_TELEMETRY, Telemetry
from .answers import error_from, json_object, rows_of, transport_failure
from .request_builder import RequestBuilder
from .resilience import (
    IDENTITY,
    Failure,
    Idempotency,
    PauseBoard,
    RetryPolicy,
    RunRateLimiter,
    RunWindow,
    ThrottleGate,
    connection_scope,
    parse_retry_after,
)

API_PATH = "/api/data/v9.2/"
ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}
# File and $value downloads: OData headers have been seen to cause 400s there.
RAW_HEADERS = {"Accept": "*/*"}
INCLUDE_DRAFTS = {"MSCRM.IncludeUnpublished": "true"}

# Dataverse codes of service-protection limits: a 429 with one of these pauses every call of the identity;
# any other 429 on a run start (DesktopFlowsActionThrottled) pauses only runs on that connection.
SERVICE_PROTECTION_CODES = frozenset({"0x80072322", "0x80072321", "0x80072326", "0x8005f103"})


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_link: str | None  # path and query below the API root, as Dataverse gave it


def default_timeout() -> httpx.Timeout:
    return httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)


def max_page_size(size: int) -> dict[str, str]:
    """The header that sets how many rows a page holds."""
    return {"Prefer": f"odata.maxpagesize={size}"}


class DataverseCore:
    """Talks to ``<environment>/api/data/v9.2/`` through a caller-owned, pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        environment_url: str,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        run_limiter: RunWindow | None = None,
        pauses: PauseBoard | None = None,
        rng: Callable[[], float] = random.random,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._http = http
        self._requests = RequestBuilder(http)
        self._telemetry = telemetry
        self.starts = StartsInFlight()  # run starts sent and not yet answered: a graceful drain waits for them
        self.api_root = environment_url.rstrip("/") + API_PATH
        self._retry = retry or RetryPolicy()
        self._sleep = clock.sleep
        self._rng = rng
        self._gate = ThrottleGate(clock, pauses)
        self._run_limiter: RunWindow = run_limiter or RunRateLimiter(clock=clock)

    async def _file(self, path: str, operation: Operation) -> bytes | None:
        """A file column's content, or None when there is none (404 or an empty body)."""
        try:
            response = await self._send("GET", path, headers=RAW_HEADERS, operation=operation)
        except DesktopFlowsError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return None
            raise
        return response.content if response.status_code != 204 and response.content.strip() else None

    async def _get_page(
        self,
        entity_set: str,
        params: dict[str, str],
        next_link: str | None,
        *,
        headers: dict[str, str],
        operation: Operation,
    ) -> Page:
        if next_link is not None:
            # Only ever a continuation of the same entity set below our own API root.
            if not next_link.startswith(entity_set + "?"):
                raise invalid_argument("The cursor does not belong to this list.")
            body = await self._get_json(next_link, None, headers=headers, operation=operation)
        else:
            body = await self._get_json(entity_set, params, headers=headers, operation=operation)
        return Page(rows=rows_of(body, operation), next_link=self._relative(body, operation))

    def _relative(self, body: Row, operation: Operation) -> str | None:
        """The next-page link below our API root. The same environment spelled differently (host case, default
        port, a loopback alias) still counts; a link anywhere else is an error, never a silently short list."""
        link = body.get("@odata.nextLink")
        if link is None:
            return None
        if isinstance(link, str):
            ours, theirs = urlsplit(self.api_root), urlsplit(link)
            if _same_origin(ours, theirs) and theirs.path.lower().startswith(ours.path.lower()):
                rest = theirs.path[len(ours.path) :]
                return rest + ("?" + theirs.query if theirs.query else "")
        raise unexpected_answer(operation, "a next-page link outside this environment's Web API")

    async def _get_json(
        self,
        path: str,
        params: dict[str, str] | None,
        *,
        operation: Operation,
        headers: Mapping[str, str] | None = None,
    ) -> Row:
        response = await self._send(
            "GET", path, params=params, headers={**ODATA_HEADERS, **(headers or {})}, operation=operation
        )
        return json_object(response, operation)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        operation: Operation,
        params: dict[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: dict[str, Any] | None = None,
        kind: Idempotency = "safe",
        connection: str | None = None,
    ) -> httpx.Response:
        """One request, sent again only where ``RetryPolicy`` says so; every failure as a DesktopFlowsError."""
        url = self.api_root + path
        if params is not None and "?" not in path:
            url, params = (f"{url}?{encoded_query(tuple(params.items()))}" if params else url), None
        send_headers = dict(headers or ODATA_HEADERS)
        if json is not None:
            send_headers.update({**ODATA_HEADERS, "Content-Type": "application/json; charset=utf-8"})
        scopes = (IDENTITY, connection_scope(connection)) if connection else (IDENTITY,)
        with self._telemetry.dataverse_request(method, path) as trace:
            policy = self._retry
            attempt = 0
            while True:
                attempt += 1
                if attempt > 1:
                    trace.retried()
                await self._gate.wait(policy.max_retry_after, scopes)
                try:
                    request = self._requests.build(method, url, headers=send_headers, params=params, json=json)
                    response = await self._http.send(request)
                except httpx.TransportError as exc:
                    failure = Failure.NOT_SENT if isinstance(exc, _NOT_SENT) else Failure.LOST
                    delay = policy.delay(kind, failure, attempt, rng=self._rng)
                    if delay is None:
                        raise transport_failure(exc, operation, sent=failure is Failure.LOST) from exc
                    await self._sleep(delay)
                    continue
                status = response.status_code
                trace.answered(status)
                if status < 400:
                    return response
                if status == 429:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    error = await error_from(response, operation, retry_after)
                    scope = IDENTITY
                    if connection and (error.dataverse_code or "").lower() not in SERVICE_PROTECTION_CODES:
                        scope = connection_scope(connection)
                    trace.paused(retry_after)
                    await self._gate.close_for(retry_after, scope)
                    if policy.delay(kind, Failure.THROTTLED, attempt, retry_after=retry_after) is None:
                        raise error
                    continue  # the gate waits before the next attempt
                error = await error_from(response, operation)
                failure = Failure.SERVER if status >= 500 or status == 408 else Failure.REFUSED
                delay = policy.delay(kind, failure, attempt, rng=self._rng)
                if delay is None:
                    raise error
                await self._sleep(delay)


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@functools.lru_cache(maxsize=256)
def encoded_query(params: tuple[tuple[str, str], ...]) -> str:
    """The query httpx would build from ``params=``, once per distinct query: most reads repeat one ``$select``,
    and httpx's merging of params into a URL costs a read ~80 µs. The URL sent is the same to the byte."""
    return str(httpx.QueryParams(params))


def _same_origin(ours: Any, theirs: Any) -> bool:
    """Same scheme and port, and the same host ignoring case, a trailing dot, or another spelling of loopback."""
    if theirs.scheme.lower() != ours.scheme or _port(theirs) != _port(ours):
        return False
    mine, other = (ours.hostname or "").rstrip("."), (theirs.hostname or "").rstrip(".")
    return mine == other or (is_loopback_host(mine) and is_loopback_host(other))


def _port(parts: Any) -> int | None:
    try:
        port: int | None = parts.port
    except ValueError:
        return None
    return port or {"https": 443, "http": 80}.get(parts.scheme.lower())
