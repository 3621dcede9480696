"""A typed async client for the Dataverse Web API calls desktop flows need, and nothing about MCP.

One method per Web API call. Every failure is raised as ``DesktopFlowsError`` (see ``errors.py``);
``from_status`` there is the only place HTTP statuses and Dataverse codes are read.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import anyio
import httpx

from ..config import ConnectionType, RunMode
from ..config.urls import is_loopback_host
from ..errors import (
    DesktopFlowsError,
    ErrorCode,
    Operation,
    from_status,
    invalid_argument,
    run_accepted_without_id,
    transport_error,
    unexpected_answer,
)
from ..models import Row
from .odata import like_literal, string_literal
from .resilience import (
    IDENTITY,
    Clock,
    Failure,
    Idempotency,
    PauseBoard,
    RetryPolicy,
    RunRateLimiter,
    RunWindow,
    Sleep,
    ThrottleGate,
    connection_scope,
    parse_retry_after,
)

API_PATH = "/api/data/v9.2/"
DESKTOP_FLOW_CONNECTOR_ID = "/providers/Microsoft.PowerApps/apis/shared_uiflow"
FLOW_COLUMNS = "workflowid,name,description,statecode,modifiedon,category"
RUN_COLUMNS = (
    "flowsessionid,statuscode,statecode,createdon,startedon,completedon,errorcode,errormessage,runmode,"
    "_regardingobjectid_value,connectionid"
)
CONNECTION_REFERENCE_COLUMNS = "connectionreferencelogicalname,connectionreferencedisplayname,connectorid,connectionid"
# Machines and groups: never the internal memo columns (metadata, key packages) nor the error memos in lists.
MACHINE_COLUMNS = (
    "flowmachineid,name,statecode,statuscode,agentversion,lastheartbeatdate,sessioncapacity,overcapacitysince,"
    "hostingtype,hostedmachinestate,keydeliverystatus,_flowmachinegroupid_value"
)
GROUP_COLUMNS = "flowmachinegroupid,name,statecode,statuscode,managementtype,flowgrouptype,provisioningstate"
DIAGNOSIS_RUN_COLUMNS = RUN_COLUMNS + ",errordetails,errorinnererror,triggertype,_machineid_value,_machinegroupid_value"
LOG_SETTINGS_COLUMNS = (
    "desktopflowrunactionlogsstatus,desktopflowrunactionlogversion,desktopflowrunactionlogverbosity,"
    "flowlogsttlinminutes"
)
ACTION_LOG_TYPE = 100000001

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
class RunDesktopFlowRequest:
    """The RunDesktopFlow action's parameters, typed; ``body()`` is the only place its wire format is written."""

    connection_name: str
    connection_type: ConnectionType
    run_mode: RunMode
    inputs: Mapping[str, Any]
    run_priority: Literal["normal", "high"] = "normal"
    timeout_seconds: int = 7200
    callback_url: str | None = None

    @property
    def inputs_json(self) -> str:
        """The inputs as Dataverse takes them: one compact JSON string."""
        return json.dumps(self.inputs, ensure_ascii=False, separators=(",", ":"))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "runMode": self.run_mode,
            "runPriority": self.run_priority,
            "connectionName": self.connection_name,
            "timeout": self.timeout_seconds,
            "inputs": self.inputs_json,
        }
        if self.connection_type == "connection_reference":
            body["connectionType"] = 2
        if self.callback_url:
            body["callbackUrl"] = self.callback_url
        return body


@dataclass(frozen=True)
class RunDesktopFlowResponse:
    run_id: str  # flowsessionId
    license_check: str | None  # licenseCheck.code, when Dataverse reports one


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
        run_limiter: RunWindow | None = None,
        pauses: PauseBoard | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self.api_root = environment_url.rstrip("/") + API_PATH
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._gate = ThrottleGate(clock, sleep, pauses)
        self._run_limiter: RunWindow = run_limiter or RunRateLimiter(clock=clock, sleep=sleep)

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

    async def find_published_desktop_flows(self, ids: Sequence[str], names: Sequence[str]) -> list[Row]:
        """Published desktop flows with one of these ids or names, their input/output schema columns included:
        one request for the whole allow-list (the per-flow tools)."""
        wanted = [f"workflowid eq {flow_id}" for flow_id in ids] + [f"name eq {string_literal(n)}" for n in names]
        params = {
            "$select": FLOW_COLUMNS + ",inputs,outputs",
            "$filter": f"category eq 6 and statecode eq 1 and ({' or '.join(wanted)})",
            "$orderby": "name asc,workflowid asc",
            "$top": "100",
        }
        body = await self._get_json("workflows", params, operation="list_flows")
        return [_object(row) for row in cast(list[Any], body.get("value") or [])]

    async def list_desktop_flow_names(self, limit: int = 500) -> list[str]:
        """Names only, drafts included: the cheap query behind "did you mean" suggestions."""
        params = {"$select": "name", "$filter": "category eq 6", "$orderby": "name asc"}
        headers = {"Prefer": f"odata.maxpagesize={limit}", **INCLUDE_DRAFTS}
        page = await self._get_page("workflows", params, None, headers=headers, operation="list_flows")
        return [name for row in page.rows if isinstance(name := row.get("name"), str) and name]

    async def get_workflow(self, flow_id: str) -> Row:
        return await self._get_json(
            f"workflows({flow_id})", {"$select": FLOW_COLUMNS}, headers=INCLUDE_DRAFTS, operation="get_flow"
        )

    async def get_flow_schema_text(self, flow_id: str, which: Literal["inputs", "outputs"]) -> str | None:
        """The raw schema JSON text, or None when the column is empty."""
        response = await self._send(
            "GET", f"workflows({flow_id})/{which}/$value", headers=RAW_HEADERS, operation="read_schema"
        )
        text = response.text
        return text if response.status_code != 204 and text.strip() else None

    async def run_desktop_flow(self, flow_id: str, request: RunDesktopFlowRequest) -> RunDesktopFlowResponse:
        """POST RunDesktopFlow. Sent again only when Dataverse certainly did not start a run."""
        await self._run_limiter.acquire(request.connection_name)
        response = await self._send(
            "POST",
            f"workflows({flow_id})/Microsoft.Dynamics.CRM.RunDesktopFlow",
            json=request.body(),
            operation="run_flow",
            kind="not_if_sent",
            connection=request.connection_name,
        )
        body = _json_object(response, "run_flow")
        run_id = body.get("flowsessionId")
        if not isinstance(run_id, str) or not run_id:
            raise run_accepted_without_id()
        license_check = _object(body.get("licenseCheck")).get("code")
        return RunDesktopFlowResponse(run_id, license_check if isinstance(license_check, str) else None)

    # ---- flow sessions (runs) -------------------------------------------------------------------------------

    async def get_flow_session(self, run_id: str) -> Row:
        return await self._get_json(f"flowsessions({run_id})", {"$select": RUN_COLUMNS}, operation="read_run")

    async def get_flow_session_inputs(self, run_id: str) -> bytes | None:
        """The inputs the run was started with, or None when it has none."""
        return await self._file(f"flowsessions({run_id})/inputs/$value", "read_run")

    async def list_runs_created_between(self, flow_id: str, since: datetime, until: datetime) -> list[Row]:
        """A flow's runs created in a window, with their owner and connection: candidates for adoption."""
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        clauses = (
            f"_regardingobjectid_value eq {flow_id}",
            f"createdon ge {since.astimezone(UTC).strftime(stamp)}",
            f"createdon le {until.astimezone(UTC).strftime(stamp)}",
        )
        params = {
            "$select": "flowsessionid,createdon,connectionid,_ownerid_value",
            "$filter": " and ".join(clauses),
            "$orderby": "createdon desc",
        }
        page = await self._get_page(
            "flowsessions", params, None, headers={"Prefer": "odata.maxpagesize=50"}, operation="list_runs"
        )
        return page.rows

    async def get_connection_id(self, logical_name: str) -> str | None:
        """The connection a connection reference is bound to (None when unbound or unknown)."""
        params = {
            "$select": "connectionid",
            "$filter": f"connectionreferencelogicalname eq {string_literal(logical_name)}",
            "$top": "1",
        }
        rows = (await self._get_json("connectionreferences", params, operation="list_connection_references")).get(
            "value"
        )
        first = _object(cast(list[Any], rows)[0]) if isinstance(rows, list) and rows else {}
        connection = first.get("connectionid")
        return connection if isinstance(connection, str) else None

    async def _file(self, path: str, operation: Operation) -> bytes | None:
        """A file column's content, or None when there is none (404 or an empty body)."""
        try:
            response = await self._send("GET", path, headers=RAW_HEADERS, operation=operation)
        except DesktopFlowsError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return None
            raise
        return response.content if response.status_code != 204 and response.content.strip() else None

    async def get_flow_session_outputs(self, run_id: str) -> bytes | None:
        """The outputs file, or None when the run has none (404 or an empty body)."""
        return await self._file(f"flowsessions({run_id})/outputs/$value", "read_outputs")

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
            kind="not_if_sent",
        )

    # ---- machines, groups, logs (diagnosis) ------------------------------------------------------------------

    async def get_run_for_diagnosis(self, run_id: str, *, expand_machine: bool) -> Row:
        """The run with its error texts; with ``expand_machine`` also its machine and group rows."""
        params = {"$select": DIAGNOSIS_RUN_COLUMNS}
        if expand_machine:
            params["$expand"] = f"MachineId($select={MACHINE_COLUMNS}),MachineGroupId($select={GROUP_COLUMNS})"
        return await self._get_json(f"flowsessions({run_id})", params, operation="read_run")

    async def list_machines(self, *, search: str | None, page_size: int, next_link: str | None) -> Page:
        params: dict[str, str] = {}
        if next_link is None:
            params = {
                "$select": MACHINE_COLUMNS,
                "$expand": "FlowMachineGroupId($select=name,flowgrouptype)",
                "$orderby": "name asc,flowmachineid asc",
            }
            if search:
                params["$filter"] = f"contains(name,{like_literal(search)})"
        headers = {"Prefer": f"odata.maxpagesize={page_size}"}
        return await self._get_page("flowmachines", params, next_link, headers=headers, operation="list_machines")

    async def list_machine_groups(self, *, search: str | None, limit: int) -> Page:
        """Real groups (not the Default group row of each standalone machine), each with its machines' ids."""
        flt = "flowgrouptype ne 545940002"
        if search:
            flt += f" and contains(name,{like_literal(search)})"
        params = {
            "$select": GROUP_COLUMNS,
            "$filter": flt,
            "$orderby": "name asc",
            "$expand": "flowmachinegroup_flowmachine($select=flowmachineid)",
        }
        headers = {"Prefer": f"odata.maxpagesize={limit}"}
        return await self._get_page("flowmachinegroups", params, None, headers=headers, operation="list_machines")

    async def list_group_machines(self, group_id: str) -> list[Row]:
        """The machines of one group (at most 50 are allowed in a group)."""
        params = {"$select": MACHINE_COLUMNS, "$filter": f"_flowmachinegroupid_value eq {group_id}", "$top": "50"}
        return _rows(await self._get_json("flowmachines", params, operation="read_machines"), "read_machines")

    async def get_machine_error(self, machine_id: str) -> str | None:
        """A hosted machine's error text (a large memo: read for one machine only)."""
        row = await self._get_json(
            f"flowmachines({machine_id})", {"$select": "hostedmachineerror"}, operation="read_machines"
        )
        return _text_or_none(row.get("hostedmachineerror"))

    async def get_group_provisioning_error(self, group_id: str) -> str | None:
        row = await self._get_json(
            f"flowmachinegroups({group_id})", {"$select": "provisioningerror"}, operation="read_machines"
        )
        return _text_or_none(row.get("provisioningerror"))

    async def list_active_runs_on(self, *, group_id: str | None, machine_id: str | None, limit: int = 100) -> Page:
        """Waiting and running runs on one group (or standalone machine), oldest first: the queue as seen."""
        target = f"_machinegroupid_value eq {group_id}" if group_id else f"_machineid_value eq {machine_id}"
        params = {
            "$select": "flowsessionid,statuscode,createdon",
            "$filter": f"{target} and (statuscode eq 3 or statuscode eq 2)",
            "$orderby": "createdon asc",
        }
        headers = {"Prefer": f"odata.maxpagesize={limit}"}
        return await self._get_page("flowsessions", params, None, headers=headers, operation="list_runs")

    async def list_action_logs(self, run_id: str, *, limit: int) -> list[Row]:
        """The run's last ``limit`` action logs (flowlog, V2), newest first; flat, as elastic tables want."""
        params = {
            "$select": "flowlogid,data,level,createdon",
            "$filter": f"_flowsessionid_value eq {run_id} and type eq {ACTION_LOG_TYPE}",
            "$orderby": "createdon desc",
            "$top": str(limit),
        }
        return _rows(await self._get_json("flowlogs", params, operation="read_logs"), "read_logs")

    async def peek_action_logs(self) -> None:
        """One flowlog id: whether this identity may read action logs at all (check_access)."""
        await self._get_json("flowlogs", {"$select": "flowlogid", "$top": "1"}, operation="read_logs")

    async def get_log_settings(self) -> Row:
        """The environment's action-log settings (organization), which explain why a run has no logs."""
        params = {"$select": LOG_SETTINGS_COLUMNS, "$top": "1"}
        rows = _rows(await self._get_json("organizations", params, operation="read_logs"), "read_logs")
        return rows[0] if rows else {}

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
                raise invalid_argument("The cursor does not belong to this list.")
            body = await self._get_json(next_link, None, headers=headers, operation=operation)
        else:
            body = await self._get_json(entity_set, params, headers=headers, operation=operation)
        rows: Any = body.get("value")
        if not isinstance(rows, list):
            raise unexpected_answer(operation, "a list response without 'value'")
        return Page(rows=[_object(row) for row in cast(list[Any], rows)], next_link=self._relative(body, operation))

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
        kind: Idempotency = "safe",
        connection: str | None = None,
    ) -> httpx.Response:
        """One request, sent again only where ``RetryPolicy`` says so; every failure as a DesktopFlowsError."""
        url = self.api_root + path
        send_headers = dict(headers or ODATA_HEADERS)
        if json is not None:
            send_headers.update({**ODATA_HEADERS, "Content-Type": "application/json; charset=utf-8"})
        scopes = (IDENTITY, connection_scope(connection)) if connection else (IDENTITY,)
        policy = self._retry
        attempt = 0
        while True:
            attempt += 1
            await self._gate.wait(policy.max_retry_after, scopes)
            try:
                response = await self._http.request(method, url, params=params, headers=send_headers, json=json)
            except httpx.TransportError as exc:
                failure = Failure.NOT_SENT if isinstance(exc, _NOT_SENT) else Failure.LOST
                delay = policy.delay(kind, failure, attempt, rng=self._rng)
                if delay is None:
                    raise _transport_error(exc, operation, sent=failure is Failure.LOST) from exc
                await self._sleep(delay)
                continue
            status = response.status_code
            if status < 400:
                return response
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                error = await _error_from(response, operation, retry_after)
                scope = IDENTITY
                if connection and (error.dataverse_code or "").lower() not in SERVICE_PROTECTION_CODES:
                    scope = connection_scope(connection)
                await self._gate.close_for(retry_after, scope)
                if policy.delay(kind, Failure.THROTTLED, attempt, retry_after=retry_after) is None:
                    raise error
                continue  # the gate waits before the next attempt
            error = await _error_from(response, operation)
            failure = Failure.SERVER if status >= 500 or status == 408 else Failure.REFUSED
            delay = policy.delay(kind, failure, attempt, rng=self._rng)
            if delay is None:
                raise error
            await self._sleep(delay)


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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


async def _error_from(
    response: httpx.Response, operation: Operation, retry_after: float | None = None
) -> DesktopFlowsError:
    await response.aread()
    code: str | None = None
    message: str | None = None
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    error = _object(_object(body).get("error"))
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


def _transport_error(exc: httpx.TransportError, operation: Operation, *, sent: bool) -> DesktopFlowsError:
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


def _object(value: Any) -> Row:
    """``value`` if it is a JSON object, else an empty one."""
    return cast(Row, value) if isinstance(value, dict) else {}


def _rows(body: Row, operation: Operation) -> list[Row]:
    rows: Any = body.get("value")
    if not isinstance(rows, list):
        raise unexpected_answer(operation, "a list response without 'value'")
    return [_object(row) for row in cast(list[Any], rows)]


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_object(response: httpx.Response, operation: Operation) -> Row:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise unexpected_answer(operation, "a body that is not JSON") from exc
    if not isinstance(body, dict):
        raise unexpected_answer(operation, "JSON that is not an object")
    return cast(Row, body)
