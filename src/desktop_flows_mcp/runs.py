"""Running desktop flows and following their runs (the flowsession table)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import anyio

from .config import ConnectionType, RunMode, Settings, is_loopback_host
from .cursors import CursorCodec, PageToken
from .dataverse.client import DataverseClient, Row
from .dataverse.odata import is_guid, parse_guid
from .dataverse.resilience import Clock, Sleep
from .errors import DesktopFlowsError, ErrorCode, invalid_argument
from .flows import FlowCatalogue, FlowRef, gather
from .idempotency import IdempotencyStore, KeyRecord
from .models import (
    CancelledRun,
    FlowRun,
    RunError,
    RunList,
    RunOutputs,
    RunStatus,
    StartedRun,
    is_terminal,
    parse_timestamp,
    run_mode_label,
    status_label,
)
from .run_errors import hint_for
from .schema import normalise, validate_inputs

MAX_INPUT_BYTES = 2 * 1024 * 1024
MAX_POLL_INTERVAL = 15.0
audit = logging.getLogger("desktop_flows_mcp.audit")

Progress = Callable[[float, float, str], Awaitable[None]]


async def _no_progress(progress: float, total: float, message: str) -> None:
    return None


@dataclass(frozen=True)
class RunRequest:
    flow: str
    inputs: dict[str, Any]
    connection_name: str | None = None
    connection_type: ConnectionType | None = None
    run_mode: RunMode | None = None
    run_priority: Literal["normal", "high"] = "normal"
    timeout_seconds: int = 7200
    callback_url: str | None = None
    idempotency_key: str | None = None
    wait_seconds: float = 0


class RunService:
    def __init__(
        self,
        client: DataverseClient,
        catalogue: FlowCatalogue,
        settings: Settings,
        cursors: CursorCodec,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._catalogue = catalogue
        self._settings = settings
        self._cursors = cursors
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._keys = IdempotencyStore(clock)

    # ---- start ----------------------------------------------------------------------------------------------

    async def run(self, request: RunRequest, progress: Progress = _no_progress) -> StartedRun:
        connection, connection_type = self._connection(request)
        run_mode = request.run_mode or self._settings.run.run_mode
        if request.callback_url is not None:
            _check_callback_url(request.callback_url)
        inputs_text = json.dumps(request.inputs, ensure_ascii=False, separators=(",", ":"))
        size = len(inputs_text.encode())
        if size > MAX_INPUT_BYTES:
            raise DesktopFlowsError(
                ErrorCode.INPUT_TOO_LARGE,
                f"The serialised inputs are {size:,} bytes; Dataverse accepts at most {MAX_INPUT_BYTES:,} "
                "(2 MB). Nothing was sent.",
                hint="Pass large content by reference (a file path or URL the flow can read) instead of inline.",
            )
        ref, schema_text = await self._flow_and_input_schema(request.flow)
        if ref.state != "published":
            raise invalid_argument(
                f"Desktop flow {ref.name!r} is {ref.state}, and only published flows can run.",
                hint="Publish the flow in Power Automate Desktop, or pick another flow from list_desktop_flows.",
            )
        schema = normalise(schema_text, closed=True)
        validate_inputs(schema, request.inputs, flow_name=ref.name)

        body: dict[str, Any] = {
            "runMode": run_mode,
            "runPriority": request.run_priority,
            "connectionName": connection,
            "timeout": request.timeout_seconds,
            "inputs": inputs_text,
        }
        if connection_type == "connection_reference":
            body["connectionType"] = 2
        if request.callback_url:
            body["callbackUrl"] = request.callback_url
        started = StartedRun(
            run_id="",
            flow_id=ref.id,
            flow_name=ref.name,
            status=RunStatus.Waiting.name,
            status_code=int(RunStatus.Waiting),
            state_code=0,
            is_terminal=False,
            run_mode=run_mode,
            connection_name=connection,
            connection_type=connection_type,
            hint="The run is queued. Call wait_for_desktop_flow_run with this run_id to follow it to the end.",
        )
        if request.idempotency_key:
            started = await self._start_once(request.idempotency_key, ref, body, started)
        else:
            started = await self._start(ref, body, started)
        if request.wait_seconds > 0:
            return await self._wait_after_start(started, request.wait_seconds, progress)
        return started

    async def _flow_and_input_schema(self, flow: str) -> tuple[FlowRef, str | None]:
        """The flow (allow-list enforced) and its input schema text; for a GUID the allow-list does not refuse
        outright, both are read in parallel: one round trip less on every run."""
        if not is_guid(flow) or self._catalogue.allowed.decide_before_lookup(flow) is False:
            ref = await self._catalogue.resolve_allowed(flow)
            return ref, await self._client.get_flow_schema_text(ref.id, "inputs")
        flow_id = parse_guid(flow, argument="flow")
        ref, text = await gather(
            self._catalogue.resolve_allowed(flow), self._client.get_flow_schema_text(flow_id, "inputs")
        )
        return ref, text

    def _connection(self, request: RunRequest) -> tuple[str, ConnectionType]:
        connection = (request.connection_name or self._settings.run.connection_name or "").strip()
        if not connection:
            raise invalid_argument(
                "No connection to run on: pass connection_name, or set DESKTOP_FLOWS_CONNECTION for this server.",
                hint="Call list_connection_references to find a desktop flow connection reference, and pass its "
                "logical_name with connection_type='connection_reference'.",
            )
        if len(connection) > 200:
            raise invalid_argument("connection_name is at most 200 characters.")
        connection_type = request.connection_type or (
            self._settings.run.connection_type if not request.connection_name else "connection"
        )
        return connection, connection_type

    async def _start(self, ref: FlowRef, body: dict[str, Any], started: StartedRun) -> StartedRun:
        response = await self._client.run_desktop_flow(ref.id, body, connection=body["connectionName"])
        run_id = response.get("flowsessionId")
        if not isinstance(run_id, str) or not run_id:
            raise DesktopFlowsError(
                ErrorCode.INTERNAL,
                "Dataverse accepted the run but returned no flowsessionId.",
                hint="Call list_desktop_flow_runs for this flow to find the run; do not start it again.",
            )
        license_check: Any = response.get("licenseCheck")
        audit.info(
            "run started flow_id=%s flow=%r run_id=%s connection=%r run_mode=%s inputs_bytes=%d",
            ref.id,
            ref.name,
            run_id,
            body["connectionName"],
            body["runMode"],
            len(body["inputs"].encode()),
        )
        return started.model_copy(
            update={
                "run_id": run_id,
                "license_check": cast(dict[str, Any], license_check).get("code")
                if isinstance(license_check, dict)
                else None,
            }
        )

    async def _start_once(self, key: str, ref: FlowRef, body: dict[str, Any], started: StartedRun) -> StartedRun:
        fingerprint = hashlib.sha256(json.dumps([ref.id, body], sort_keys=True).encode()).hexdigest()
        async with self._keys.lock(key):
            record = self._keys.get(key)
            if record is not None and record.fingerprint != fingerprint:
                raise DesktopFlowsError(
                    ErrorCode.CONFLICT,
                    "This idempotency_key was already used in the last 24 hours with different arguments.",
                    hint="Use a new idempotency_key for a different run, or repeat the original arguments exactly.",
                )
            if record is not None and record.run_id is None and record.uncertain_since is not None:
                record.run_id = await self._find_run_since(ref.id, record.uncertain_since)
            if record is not None and record.run_id is not None:
                return started.model_copy(
                    update={
                        "run_id": record.run_id,
                        "reused": True,
                        "status": "Unknown",
                        "status_code": None,
                        "state_code": None,
                        "hint": "An earlier call with this idempotency_key started this run; no new run was "
                        "started. Call get_desktop_flow_run for its current status.",
                    }
                )
            attempted_at = self._now()
            try:
                result = await self._start(ref, body, started)
            except DesktopFlowsError as error:
                if error.outcome_unknown:
                    self._keys.remember(key, KeyRecord(fingerprint, ref.id, self._clock(), None, attempted_at))
                raise
            self._keys.remember(key, KeyRecord(fingerprint, ref.id, self._clock(), result.run_id))
            return result

    async def _find_run_since(self, flow_id: str, since: datetime) -> str | None:
        page = await self._client.list_flow_sessions(
            flow_id=flow_id, status_code=None, page_size=1, next_link=None, created_since=since - timedelta(minutes=2)
        )
        run_id = page.rows[0].get("flowsessionid") if page.rows else None
        return run_id if isinstance(run_id, str) else None

    async def _wait_after_start(self, started: StartedRun, wait_seconds: float, progress: Progress) -> StartedRun:
        try:
            run = await self.wait(started.run_id, wait_seconds, progress)
        except DesktopFlowsError as error:
            if error.code is not ErrorCode.PERMISSION_DENIED:
                raise
            return started.model_copy(
                update={
                    "hint": "The run started, but this identity cannot read run status (that needs Owner-level "
                    "access to flow sessions, while starting a run needs only User). Check it in the Power "
                    "Automate portal, or ask an admin for read access to Flow Sessions."
                }
            )
        fields = {name: getattr(run, name) for name in FlowRun.model_fields if name not in ("run_id", "flow_id")}
        return started.model_copy(update=fields)

    # ---- follow ---------------------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> FlowRun:
        run_id = parse_guid(run_id, argument="run_id")
        return _to_run(await self._client.get_flow_session(run_id), run_id)

    async def wait(self, run_id: str, timeout_seconds: float, progress: Progress = _no_progress) -> FlowRun:
        """Poll with back-off until the run ends or ``timeout_seconds`` pass; the deadline is not an error.

        Cancelling the call (the MCP client gives up) stops the waiting, never the run itself.
        """
        run_id = parse_guid(run_id, argument="run_id")
        started = self._clock()
        deadline = started + timeout_seconds
        interval = self._settings.run.poll_interval_seconds
        while True:
            run = await self.get_run(run_id)
            elapsed = self._clock() - started
            await progress(min(elapsed, timeout_seconds), timeout_seconds, f"Run {run_id} is {run.status}")
            if run.is_terminal:
                if run.status == RunStatus.Succeeded.name:
                    run.outputs = (await self.get_outputs(run_id)).outputs
                return run
            remaining = deadline - self._clock()
            if remaining <= 0:
                run.hint = (
                    f"The run is still {run.status} after {timeout_seconds:g} seconds of waiting; it goes on in the "
                    "background. Call wait_for_desktop_flow_run again with the same run_id to keep waiting, or "
                    "cancel_desktop_flow_run to stop it."
                )
                return run
            await self._sleep(min(interval, remaining))
            interval = min(max(interval * 1.5, 1.0), MAX_POLL_INTERVAL)

    async def get_outputs(self, run_id: str) -> RunOutputs:
        run_id = parse_guid(run_id, argument="run_id")
        content = await self._client.get_flow_session_outputs(run_id)
        if content is None:
            run = await self.get_run(run_id)  # not_found here means the run itself does not exist
            note = (
                "The run finished without outputs."
                if run.is_terminal
                else f"The run is {run.status}; outputs appear once it has finished. Call "
                "wait_for_desktop_flow_run first."
            )
            return RunOutputs(run_id=run_id, outputs={}, note=note)
        text = content.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            return RunOutputs(run_id=run_id, outputs=text, note="The outputs are not JSON; returned as text.")
        if isinstance(parsed, dict):
            return RunOutputs(run_id=run_id, outputs=cast(dict[str, Any], parsed))
        return RunOutputs(run_id=run_id, outputs=text, note="The outputs are JSON but not an object; returned as text.")

    async def cancel(self, run_id: str) -> CancelledRun:
        run_id = parse_guid(run_id, argument="run_id")
        row = await self._client.get_flow_session(run_id)
        before = _to_run(row, run_id)
        if before.is_terminal:
            raise DesktopFlowsError(
                ErrorCode.CONFLICT,
                f"Run {run_id} already finished with status {before.status}; there is nothing to cancel.",
                hint="Call get_desktop_flow_run to read its result.",
            )
        await self._client.cancel_flow_session(run_id)
        audit.info(
            "run cancelled flow_id=%s run_id=%s connection=%r run_mode=%s previous_status=%s",
            before.flow_id,
            run_id,
            row.get("connectionid"),
            before.run_mode,
            before.status,
        )
        after = await self.get_run(run_id)
        hint = None if after.is_terminal else "Cancellation was requested; the run stops shortly."
        return CancelledRun(run_id=run_id, cancelled=True, status=after.status, hint=hint)

    async def list_runs(self, *, flow: str | None, status: str | None, limit: int, cursor: str | None) -> RunList:
        next_link: str | None = None
        flow_id: str | None = None
        if cursor:
            token = self._cursors.decode("runs", cursor, tool="list_desktop_flow_runs")
            next_link, limit = token.next_link, token.page_size
        elif flow:
            flow_id = (await self._catalogue.resolve(flow)).id
        page = await self._client.list_flow_sessions(
            flow_id=flow_id,
            status_code=int(RunStatus[status]) if status else None,
            page_size=limit,
            next_link=next_link,
        )
        runs = [_to_run(row, str(row.get("flowsessionid") or "")) for row in page.rows]
        next_cursor = self._cursors.encode("runs", PageToken(page.next_link, limit)) if page.next_link else None
        return RunList(runs=runs, next_cursor=next_cursor)


def _to_run(row: Row, run_id: str) -> FlowRun:
    status_code = row.get("statuscode")
    status_code = status_code if isinstance(status_code, int) else None
    status = status_label(status_code)
    error = None
    error_code, error_message = row.get("errorcode"), row.get("errormessage")
    if error_code or error_message or status in ("Failed", "Faulted", "TimedOut", "Aborted"):
        hint, retryable = hint_for(error_code, status)
        error = RunError(code=error_code or None, message=error_message or None, hint=hint, retryable=retryable)
    state_code = row.get("statecode")
    run_mode = row.get("runmode")
    return FlowRun(
        run_id=run_id,
        flow_id=row.get("_regardingobjectid_value"),
        status=status,
        status_code=status_code,
        state_code=state_code if isinstance(state_code, int) else None,
        is_terminal=is_terminal(status_code),
        created_on=parse_timestamp(row.get("createdon")),
        started_on=parse_timestamp(row.get("startedon")),
        completed_on=parse_timestamp(row.get("completedon")),
        run_mode=run_mode_label(run_mode if isinstance(run_mode, int) else None),
        error=error,
    )


def _check_callback_url(url: str) -> None:
    problem = None
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if len(url) > 2000:
        problem = "is longer than 2000 characters"
    elif parts.scheme != "https":
        problem = "must use https"
    elif not host:
        problem = "has no host"
    elif parts.username or parts.password:
        problem = "must not contain credentials"
    elif is_loopback_host(host) or _is_ip_literal(host):
        problem = "must use a DNS name, not localhost or an IP address"
    elif "." not in host:
        problem = "must use a fully qualified DNS name"
    if problem:
        raise invalid_argument(
            f"callback_url {problem} (Dataverse only calls https URLs on named hosts).",
            hint="Pass an https URL on a public DNS name, e.g. https://hooks.contoso.com/flows/done, or omit "
            "callback_url and use wait_for_desktop_flow_run.",
        )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
