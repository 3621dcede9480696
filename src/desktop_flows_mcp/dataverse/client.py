"""A typed async client for the Dataverse Web API calls desktop flows need, and nothing about MCP.

One method per Web API call. Every failure is raised as ``DesktopFlowsError`` (see ``errors.py``);
``from_status`` there is the only place HTTP statuses and Dataverse codes are read.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import anyio
import httpx

from ..errors import RUN_OUTCOME_UNKNOWN_HINT, DesktopFlowsError, ErrorCode, Operation, from_status
from .odata import like_literal, string_literal
from .resilience import Clock, RetryPolicy, RunRateLimiter, Sleep, ThrottleGate

API_PATH = "/api/data/v9.2/"
DESKTOP_FLOW_CONNECTOR_ID = "/providers/Microsoft.PowerApps/apis/shared_uiflow"
FLOW_COLUMNS = "workflowid,name,description,statecode,modifiedon,category"
RUN_COLUMNS = (
    "flowsessionid,statuscode,statecode,createdon,startedon,completedon,errorcode,errormessage,runmode,"
    "_regardingobjectid_value,connectionid"
)
CONNECTION_REFERENCE_COLUMNS = "connectionreferencelogicalname,connectionreferencedisplayname,connectorid,connectionid"

ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}
# File and $value downloads: OData headers have been seen to cause 400s there.
RAW_HEADERS = {"Accept": "*/*"}
INCLUDE_DRAFTS = {"MSCRM.IncludeUnpublished": "true"}

Row = dict[str, Any]
Retry = Literal["safe", "not_if_sent"]


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_link: str | None  # path and query below the API root, as Dataverse gave it


def default_timeout() -> httpx.Timeout:
    return httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)


class DataverseClient:
    """Talks to ``<environment>/api/data/v9.2/`` through a caller-owned, pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        environment_url: str,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        run_limiter: RunRateLimiter | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self.api_root = environment_url.rstrip("/") + API_PATH
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._gate = ThrottleGate(clock, sleep)
        self._run_limiter = run_limiter or RunRateLimiter(clock=clock, sleep=sleep)

    # ---- workflows ------------------------------------------------------------------------------------------

    async def list_desktop_flows(
        self, *, search: str | None, include_drafts: bool, page_size: int, next_link: str | None
    ) -> Page:
        params: dict[str, str] = {}
        if next_link is None:
            flt = "category eq 6"
            if search:
                flt += f" and contains(name,{like_literal(search)})"
            params = {"$select": FLOW_COLUMNS, "$filter": flt, "$orderby": "name asc,workflowid asc"}
        headers = {"Prefer": f"odata.maxpagesize={page_size}", **(INCLUDE_DRAFTS if include_drafts else {})}
        return await self._get_page("workflows", params, next_link, headers=headers, operation="list_flows")

    async def find_desktop_flows_by_name(self, name: str) -> list[Row]:
        params = {
            "$select": FLOW_COLUMNS,
            "$filter": f"category eq 6 and name eq {string_literal(name)}",
            "$top": "10",
        }
        body = await self._get_json("workflows", params, headers=INCLUDE_DRAFTS, operation="get_flow")
        return list(body.get("value") or [])

    async def get_workflow(self, flow_id: str) -> Row:
        return await self._get_json(
            f"workflows({flow_id})", {"$select": FLOW_COLUMNS}, headers=INCLUDE_DRAFTS, operation="get_flow"
        )

    async def get_flow_schema_text(self, flow_id: str, which: Literal["inputs", "outputs"]) -> str | None:
        """The raw schema JSON text, or None when the column is empty."""
        response = await self._send(
            "GET", f"workflows({flow_id})/{which}/$value", headers=RAW_HEADERS, operation="read_schema", retry="safe"
        )
        text = response.text
        return text if response.status_code != 204 and text.strip() else None

    async def run_desktop_flow(self, flow_id: str, body: Mapping[str, Any], *, connection: str) -> Row:
        """POST RunDesktopFlow. Retried only when Dataverse certainly did not start a run."""
        await self._run_limiter.acquire(connection)
        response = await self._send(
            "POST",
            f"workflows({flow_id})/Microsoft.Dynamics.CRM.RunDesktopFlow",
            json=dict(body),
            operation="run_flow",
            retry="not_if_sent",
        )
        return _json_object(response, "run_flow")

    # ---- flow sessions (runs) -------------------------------------------------------------------------------

    async def get_flow_session(self, run_id: str) -> Row:
        return await self._get_json(f"flowsessions({run_id})", {"$select": RUN_COLUMNS}, operation="read_run")

    async def get_flow_session_outputs(self, run_id: str) -> bytes | None:
        """The outputs file, or None when the run has none (404 or an empty body)."""
        try:
            response = await self._send(
                "GET", f"flowsessions({run_id})/outputs/$value", headers=RAW_HEADERS, operation="read_outputs"
            )
        except DesktopFlowsError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return None
            raise
        return response.content if response.status_code != 204 and response.content.strip() else None

    async def list_flow_sessions(
        self,
        *,
        flow_id: str | None,
        status_code: int | None,
        page_size: int,
        next_link: str | None,
        created_since: datetime | None = None,
    ) -> Page:
        params: dict[str, str] = {}
        if next_link is None:
            clauses = [f"_regardingobjectid_value eq {flow_id}"] if flow_id else []
            if status_code is not None:
                clauses.append(f"statuscode eq {status_code}")
            if created_since is not None:
                clauses.append(f"createdon ge {created_since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
            params = {"$select": RUN_COLUMNS, "$orderby": "createdon desc"}
            if clauses:
                params["$filter"] = " and ".join(clauses)
        headers = {"Prefer": f"odata.maxpagesize={page_size}"}
        return await self._get_page("flowsessions", params, next_link, headers=headers, operation="list_runs")

    async def cancel_flow_session(self, run_id: str) -> None:
        await self._send(
            "POST",
            f"flowsessions({run_id})/Microsoft.Dynamics.CRM.CancelDesktopFlowRun",
            operation="cancel_run",
            retry="not_if_sent",
        )

    # ---- connection references, identity --------------------------------------------------------------------

    async def list_connection_references(self, *, search: str | None, limit: int) -> Page:
        flt = f"connectorid eq {string_literal(DESKTOP_FLOW_CONNECTOR_ID)}"
        if search:
            needle = like_literal(search)
            flt += (
                f" and (contains(connectionreferencedisplayname,{needle})"
                f" or contains(connectionreferencelogicalname,{needle}))"
            )
        params = {
            "$select": CONNECTION_REFERENCE_COLUMNS,
            "$filter": flt,
            "$orderby": "connectionreferencedisplayname asc",
        }
        headers = {"Prefer": f"odata.maxpagesize={limit}"}
        return await self._get_page(
            "connectionreferences", params, None, headers=headers, operation="list_connection_references"
        )

    async def who_am_i(self) -> Row:
        return await self._get_json("WhoAmI", {}, operation="who_am_i")

    async def get_system_user(self, user_id: str) -> Row:
        """The Dataverse user behind WhoAmI's UserId (applicationid is set for application users)."""
        params = {"$select": "fullname,domainname,applicationid,isdisabled"}
        return await self._get_json(f"systemusers({user_id})", params, operation="who_am_i")

    # ---- plumbing -------------------------------------------------------------------------------------------

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
                raise DesktopFlowsError(ErrorCode.INVALID_ARGUMENT, "The cursor does not belong to this list.")
            body = await self._get_json(next_link, None, headers=headers, operation=operation)
        else:
            body = await self._get_json(entity_set, params, headers=headers, operation=operation)
        rows: Any = body.get("value")
        if not isinstance(rows, list):
            raise _unexpected(operation, "a list response without 'value'")
        return Page(rows=[_object(row) for row in cast(list[Any], rows)], next_link=self._relative(body))

    def _relative(self, body: Row) -> str | None:
        link = body.get("@odata.nextLink")
        if not isinstance(link, str) or not link.startswith(self.api_root):
            return None
        return link[len(self.api_root) :]

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
        return _json_object(response, operation)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        operation: Operation,
        params: dict[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: dict[str, Any] | None = None,
        retry: Retry = "safe",
    ) -> httpx.Response:
        url = self.api_root + path
        send_headers = dict(headers or ODATA_HEADERS)
        if json is not None:
            send_headers.update({**ODATA_HEADERS, "Content-Type": "application/json; charset=utf-8"})
        policy = self._retry
        for attempt in range(1, policy.attempts + 1):
            last = attempt == policy.attempts
            await self._gate.wait(policy.max_retry_after)
            try:
                response = await self._http.request(method, url, params=params, headers=send_headers, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left this machine, so even a run request can be sent again.
                if last:
                    raise _transport_error(exc, operation, sent=False) from exc
                await self._sleep(policy.backoff(attempt, self._rng))
                continue
            except httpx.TransportError as exc:
                if retry == "not_if_sent" or last:
                    raise _transport_error(exc, operation, sent=True) from exc
                await self._sleep(policy.backoff(attempt, self._rng))
                continue

            status = response.status_code
            if status == 429:
                retry_after = _retry_after(response)
                self._gate.close_for(retry_after if retry_after is not None else policy.backoff(attempt, self._rng))
                if not last and (retry_after or 0) <= policy.max_retry_after:
                    continue  # the gate waits before the next attempt
                raise await _error_from(response, operation, retry_after)
            if status >= 500 or status == 408:
                if retry == "safe" and not last:
                    await response.aread()
                    await self._sleep(policy.backoff(attempt, self._rng))
                    continue
                raise await _error_from(response, operation, None)
            if status >= 400:
                raise await _error_from(response, operation, None)
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


async def _error_from(response: httpx.Response, operation: Operation, retry_after: float | None) -> DesktopFlowsError:
    await response.aread()
    code: str | None = None
    message: str | None = None
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    error = _object(body).get("error")
    if isinstance(error, dict):
        error = _object(error)
        raw_code = error.get("code")
        raw_message = error.get("message")
        code = raw_code if isinstance(raw_code, str) and raw_code.strip() else None
        message = raw_message if isinstance(raw_message, str) else None
    elif response.content:
        kind = "an HTML page" if b"<html" in response.content[:512].lower() else "a body that is not Dataverse JSON"
        message = f"Dataverse (or a proxy in front of it) answered HTTP {response.status_code} with {kind}."
    mapped = from_status(response.status_code, code, message, operation=operation, retry_after=retry_after)
    if operation == "run_flow" and (response.status_code >= 500 or response.status_code == 408):
        mapped.hint = RUN_OUTCOME_UNKNOWN_HINT
        mapped.outcome_unknown = True
    return mapped


def _transport_error(exc: httpx.TransportError, operation: Operation, *, sent: bool) -> DesktopFlowsError:
    host = exc.request.url.host if _has_request(exc) else "Dataverse"
    if isinstance(exc, httpx.TimeoutException):
        code, what = ErrorCode.TIMEOUT, f"Timed out talking to {host} ({type(exc).__name__})."
    else:
        code, what = ErrorCode.DATAVERSE_UNAVAILABLE, f"Could not reach {host} ({type(exc).__name__})."
    if operation == "run_flow" and sent:
        return DesktopFlowsError(code, what, hint=RUN_OUTCOME_UNKNOWN_HINT, retryable=False, outcome_unknown=True)
    return DesktopFlowsError(
        code, what, hint="Check the network and DATAVERSE_URL, then retry in a few seconds.", retryable=True
    )


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018  # raises RuntimeError when the exception carries no request
    except RuntimeError:
        return False
    return True


def _object(value: Any) -> Row:
    """``value`` if it is a JSON object, else an empty one."""
    return cast(Row, value) if isinstance(value, dict) else {}


def _json_object(response: httpx.Response, operation: Operation) -> Row:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _unexpected(operation, "a body that is not JSON") from exc
    if not isinstance(body, dict):
        raise _unexpected(operation, "JSON that is not an object")
    return body  # type: ignore[return-value]  # json.loads gives dict[str, Any] for objects


def _unexpected(operation: Operation, what: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.INTERNAL,
        f"Dataverse answered {operation} with {what}.",
        hint="This is unexpected; retry once, and report it if it persists.",
    )
