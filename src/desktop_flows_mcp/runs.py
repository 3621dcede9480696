"""Running desktop flows and following their runs (the flowsession table).

A finished run never changes, so its row and outputs are kept (``FINISHED_TTL``); a run that is not terminal is
always read fresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, cast

import anyio

from .adoption import RunAdopter
from .callback_urls import check_callback_url
from .config import ConnectionType, RunMode, Settings
from .cursors import CursorCodec, PageToken, refuse_other_arguments
from .dataverse.client import DataverseClient, RunDesktopFlowRequest
from .dataverse.odata import is_guid, parse_guid
from .dataverse.resilience import Clock, Sleep
from .diagnosis.run_hints import queued_hint
from .errors import DesktopFlowsError, ErrorCode, invalid_argument, not_allowed
from .flows import FlowCatalogue, gather
from .idempotency import Attempt, IdempotencyKeys, IdempotencyStore, KeyRecord
from .models import CancelledRun, FlowRef, FlowRun, RunList, RunOutputs, RunStatus, StartedRun
from .recent import Recent
from .run_callbacks import InProcessWakeups, RunCallbacks, RunWakeups, pause
from .schema import normalise, validate_inputs

MAX_INPUT_BYTES = 2 * 1024 * 1024
MAX_POLL_INTERVAL = 15.0
FINISHED_TTL = 3600.0  # a finished run's row and outputs are reused this long
SAFETY_READ_SECONDS = 180.0  # while a run's callback is expected, a wait reads it this rarely (and at its deadline)
audit = logging.getLogger("desktop_flows_mcp.audit")
log = logging.getLogger("desktop_flows_mcp")

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
        callbacks: RunCallbacks | None = None,
        wakeups: RunWakeups | None = None,
        keys: IdempotencyKeys | None = None,
    ) -> None:
        self._client = client
        self._catalogue = catalogue
        self._settings = settings
        self._cursors = cursors
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._keys: IdempotencyKeys = keys or IdempotencyStore(clock)
        self._adopter = RunAdopter(client, clock, sleep)
        self._finished: Recent[str, FlowRun] = Recent(FINISHED_TTL, 256, clock)
        self._outputs: Recent[str, RunOutputs] = Recent(FINISHED_TTL, 64, clock)
        self._just_started: Recent[str, float] = Recent(MAX_POLL_INTERVAL, 256, clock)  # run id → when it started
        self._intervals: Recent[str, float] = Recent(15 * 60.0, 256, clock)  # run id → its current poll interval
        self._read_at: Recent[str, float] = Recent(SAFETY_READ_SECONDS, 1024, clock)  # run id → last status read
        self._last_read: Recent[str, FlowRun] = Recent(SAFETY_READ_SECONDS, 1024, clock)  # …and what it said
        self._cancelling: Recent[str, bool] = Recent(SAFETY_READ_SECONDS, 256, clock)  # cancelled, not yet ended
        self._callbacks = callbacks  # set when Dataverse can reach this deployment (DESKTOP_FLOWS_PUBLIC_URL)
        self.wakeups: RunWakeups = wakeups or InProcessWakeups()
        self._licence_checks: Recent[str, str] = Recent(24 * 3600.0, 512, clock)  # run id → licenseCheck.code

    # ---- start ----------------------------------------------------------------------------------------------

    async def run(self, request: RunRequest, progress: Progress = _no_progress) -> StartedRun:
        connection, connection_type = self._connection(request)
        run_mode = request.run_mode or self._settings.run.run_mode
        if request.callback_url is not None:
            check_callback_url(request.callback_url)
        wire = RunDesktopFlowRequest(
            connection_name=connection,
            connection_type=connection_type,
            run_mode=run_mode,
            inputs=request.inputs,
            run_priority=request.run_priority,
            timeout_seconds=request.timeout_seconds,
            callback_url=request.callback_url,
        )
        size = len(wire.inputs_json.encode())
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

        started = StartedRun(
            run_id="",
            flow_id=ref.id,
            flow_name=ref.name,
            status=RunStatus.Waiting.name,
            status_code=int(RunStatus.Waiting),
            is_terminal=False,
            run_mode=run_mode,
            connection_name=connection,
            connection_type=connection_type,
            hint="The run is queued. Call wait_for_desktop_flow_run with this run_id to follow it to the end.",
        )
        if request.idempotency_key:
            started = await self._start_once(request.idempotency_key, ref, wire, started)
        else:
            started = await self._start(ref, wire, started)
        if request.wait_seconds > 0:
            return await self._wait_after_start(started, request.wait_seconds, progress)
        return started

    async def _flow_and_input_schema(self, flow: str) -> tuple[FlowRef, str]:
        """The flow (allow-list enforced) and its input schema text; for a GUID the allow-list does not refuse
        outright, both are read in parallel: one round trip less on every run."""
        catalogue = self._catalogue
        if not is_guid(flow) or catalogue.allowed.decide_before_lookup(flow) is False:
            ref = await catalogue.resolve_allowed(flow)
            return ref, await catalogue.schema_text(ref.id, "inputs")
        flow_id = parse_guid(flow, argument="flow")
        ref, text = await gather(catalogue.resolve_allowed(flow), catalogue.schema_text(flow_id, "inputs"))
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

    async def _start(self, ref: FlowRef, wire: RunDesktopFlowRequest, started: StartedRun) -> StartedRun:
        issued = await self._callbacks.issue() if self._callbacks and wire.callback_url is None else None
        if issued is not None:  # after the idempotency fingerprint: a retry with the same key stays the same call
            wire = replace(wire, callback_url=issued[1])
        try:
            response = await self._client.run_desktop_flow(ref.id, wire)
        except BaseException as error:
            if isinstance(error, DesktopFlowsError) and error.code is ErrorCode.NOT_FOUND:
                self._catalogue.forget(ref.id)
            if self._callbacks and issued is not None:
                with anyio.CancelScope(shield=True):
                    await self._callbacks.discard(issued[0])
            raise
        if self._callbacks and issued is not None:
            with anyio.CancelScope(shield=True):
                await self._callbacks.bind(issued[0], response.run_id, wire.timeout_seconds)
        audit.info(
            "run started flow_id=%s flow=%r run_id=%s connection=%r run_mode=%s inputs_bytes=%d",
            ref.id,
            ref.name,
            response.run_id,
            wire.connection_name,
            wire.run_mode,
            len(wire.inputs_json.encode()),
        )
        self._just_started.put(response.run_id, self._clock())
        self._read_at.put(response.run_id, self._clock())  # Dataverse just said Waiting
        if response.license_check:
            self._licence_checks.put(response.run_id, response.license_check)
        return started.model_copy(update={"run_id": response.run_id, "license_check": response.license_check})

    async def _start_once(self, key: str, ref: FlowRef, wire: RunDesktopFlowRequest, started: StartedRun) -> StartedRun:
        """At most one run per key; after an uncertain start, adopt only the run ``adoption`` proves it made."""
        fingerprint = hashlib.sha256(json.dumps([ref.id, wire.body()], sort_keys=True).encode()).hexdigest()
        async with self._keys.lock(key):
            record = await self._keys.get(key)
            if record is not None and record.fingerprint != fingerprint:
                raise DesktopFlowsError(
                    ErrorCode.CONFLICT,
                    "This idempotency_key was already used in the last 24 hours with different arguments.",
                    hint="Use a new idempotency_key for a different run, or repeat the original arguments exactly.",
                )
            if record is not None and record.in_flight and record.attempt is not None:
                # Its holder stopped mid-start (a replica died, or the call was cancelled): the outcome is unknown.
                record.attempt = replace(record.attempt, ended=self._now(), ended_at=self._clock())
            if record is not None and record.run_id is None and record.attempt is not None:
                found = await self._adopter.find(
                    record.attempt, claimed_among=lambda runs: self._keys.claimed_among(runs, except_key=key)
                )
                if found is not None:
                    await self._keys.remember(key, KeyRecord(fingerprint, self._clock(), found))
                    audit.info("run adopted for an idempotency key flow_id=%s run_id=%s", ref.id, found)
                    record.run_id = found
            if record is not None and record.run_id is not None:
                return started.model_copy(
                    update={
                        "run_id": record.run_id,
                        "reused": True,
                        "status": "Unknown",
                        "status_code": None,
                        "hint": "An earlier call with this idempotency_key started this run; no new run was "
                        "started. Call get_desktop_flow_run for its current status.",
                    }
                )
            began = self._now()
            attempt = Attempt(
                ref.id, wire.connection_name, wire.connection_type, dict(wire.inputs), began, began, self._clock()
            )
            await self._keys.remember(key, KeyRecord(fingerprint, self._clock(), None, attempt, in_flight=True))
            try:
                result = await self._start(ref, wire, started)
            except DesktopFlowsError as error:
                await self._after_failed_start(key, fingerprint, attempt, error)
                raise
            try:
                await self._keys.remember(key, KeyRecord(fingerprint, self._clock(), result.run_id))
            except DesktopFlowsError as error:  # the run started: its id goes back whatever happens to the record
                log.warning("run %s started, but its idempotency key was not recorded: %s", result.run_id, error)
            return result

    async def _after_failed_start(self, key: str, fingerprint: str, attempt: Attempt, error: DesktopFlowsError) -> None:
        """An uncertain start is kept for adoption, a refused one forgotten (a retry may start afresh). Should the
        store fail now, the in-flight record stays: the next call adopts or starts once, never twice."""
        try:
            if error.outcome_unknown:
                attempt = replace(attempt, ended=self._now(), ended_at=self._clock())
                await self._keys.remember(key, KeyRecord(fingerprint, self._clock(), None, attempt))
            else:
                await self._keys.forget(key)
        except DesktopFlowsError as store_error:
            log.warning("the idempotency key of a failed start was not updated: %s", store_error.message)

    async def _wait_after_start(self, started: StartedRun, wait_seconds: float, progress: Progress) -> StartedRun:
        """Follow a run that Dataverse accepted. Whatever goes wrong now, the result carries its run_id: an error
        here would invite a retry, and a retry would start a second run."""
        try:
            run = await self.wait(started.run_id, wait_seconds, progress)
        except DesktopFlowsError as error:
            log.warning("run %s started, but following it failed: %s %s", started.run_id, error.code, error.message)
            return started.model_copy(
                update={
                    "status": "Unknown",
                    "status_code": None,
                    "warning": f"The run started, but reading its status failed ({error.code.value}: {error.message})",
                    "hint": _STATUS_UNREADABLE_HINT
                    if error.code is ErrorCode.PERMISSION_DENIED
                    else "The run started; do not start it again. Call get_desktop_flow_run with this run_id "
                    "for its status, or wait_for_desktop_flow_run to follow it.",
                }
            )
        fields = {name: getattr(run, name) for name in FlowRun.model_fields if name not in ("run_id", "flow_id")}
        return started.model_copy(update=fields)

    # ---- follow ---------------------------------------------------------------------------------------------

    def licence_check_seen(self, run_id: str) -> str | None:
        """The licence check Dataverse answered when this process started the run, if it did."""
        return self._licence_checks.get(run_id)

    async def get_run(self, run_id: str) -> FlowRun:
        run_id = parse_guid(run_id, argument="run_id")
        finished = self._finished.get(run_id)
        if finished is not None:
            return finished.model_copy(deep=True)
        run = FlowRun.from_row(await self._client.get_flow_session(run_id))
        run.run_id = run_id
        self._read_at.put(run_id, self._clock())
        self._last_read.put(run_id, run.model_copy(deep=True))
        if run.is_terminal:
            self._last_read.drop(run_id)
            self._finished.put(run_id, run.model_copy(deep=True))
            if self._callbacks is not None:
                await self._callbacks.finished(run_id)
            await self.wakeups.publish(run_id)  # a wait here expecting a callback that is now spent (a cancel)
        run.hint = queued_hint(run.status, run.created_on, self._now()) or run.hint
        return run

    async def poll_run(self, run_id: str) -> FlowRun:
        """``get_run`` for pollers (task polls and task notifications): while the run's callback is expected, a read
        younger than ``SAFETY_READ_SECONDS`` stands in for a new one. The callback's re-read (``get_run``) ends that,
        so the first poll after it sees the run's end."""
        run_id = parse_guid(run_id, argument="run_id")
        last = None if run_id in self._cancelling else self._last_read.get(run_id)  # a cancel's end: read it
        if last is None or self._finished.get(run_id) is not None or not await self.expects_callback(run_id):
            return await self.get_run(run_id)
        run = last.model_copy(deep=True)
        run.hint = queued_hint(run.status, run.created_on, self._now()) or run.hint
        return run

    async def wait(self, run_id: str, timeout_seconds: float, progress: Progress = _no_progress) -> FlowRun:
        """Poll with back-off until the run ends or ``timeout_seconds`` pass; the deadline is not an error.

        While the run's callback is expected, read it only on a wake-up, every ``SAFETY_READ_SECONDS`` and at the
        deadline. Cancelling the call (the MCP client gives up) stops the waiting, never the run itself.
        """
        run_id = parse_guid(run_id, argument="run_id")
        started = self._clock()
        deadline = started + timeout_seconds
        # The back-off goes on across calls: an agent that waits 60 s at a time on a long run reads it ever
        # more rarely, not nine times in every call.
        interval = self.poll_interval(run_id)
        async with self.wakeups.subscribe(run_id) as woken:  # before the callback check: no wake-up slips past
            expecting = await self.expects_callback(run_id)
            queued_at = self._just_started.get(run_id)
            read_at = self._read_at.get(run_id)
            first_pause = 0.0
            if expecting and read_at is not None:  # read moments ago: the callback, not a read, says when it ends
                first_pause = min(read_at + SAFETY_READ_SECONDS - started, timeout_seconds)
            elif queued_at is not None and self._finished.get(run_id) is None:
                # This process started it moments ago and Dataverse said Waiting: a read now would only say so again.
                first_pause = max(0.0, min(queued_at + interval - started, timeout_seconds))
            if first_pause > 0:
                status = "Waiting" if queued_at is not None else "in progress"
                await self._hold(woken, first_pause, run_id, started, timeout_seconds, status, expecting, progress)
        while True:
            async with self.wakeups.subscribe(run_id) as woken:  # open before the read: no wake-up slips past
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
                        f"The run is still {run.status} after {timeout_seconds:g} seconds of waiting; it goes on in "
                        "the background. Call wait_for_desktop_flow_run again with the same run_id to keep waiting, "
                        "or cancel_desktop_flow_run to stop it."
                    ) + (f" {run.hint}" if run.hint else "")
                    return run
                if expecting:
                    seconds = min(SAFETY_READ_SECONDS, remaining)
                else:
                    seconds = min(interval, remaining)
                    interval = self.back_off(run_id, interval)
                await self._hold(woken, seconds, run_id, started, timeout_seconds, run.status, expecting, progress)

    async def _hold(
        self,
        woken: anyio.Event,
        seconds: float,
        run_id: str,
        started: float,
        timeout_seconds: float,
        status: str,
        expecting: bool,
        progress: Progress,
    ) -> None:
        """Pause until ``woken`` or ``seconds`` pass; while a callback is expected, report progress without
        reading the run every ``MAX_POLL_INTERVAL`` seconds, so clients see the wait is alive."""
        while seconds > 0:
            step = min(seconds, MAX_POLL_INTERVAL) if expecting else seconds
            if await pause(woken, step, self._sleep):
                return
            seconds -= step
            if seconds > 0:
                elapsed = min(self._clock() - started, timeout_seconds)
                await progress(elapsed, timeout_seconds, f"Run {run_id} is {status}; waiting for it to report back")

    async def wait_for_change(self, run_id: str, seconds: float) -> bool:
        """Sleep up to ``seconds``; True at once when the run's verified callback arrives (or it is known finished).

        For pollers outside ``wait`` (task polls): read the run after it returns, whichever way it returned.
        """
        async with self.wakeups.subscribe(run_id) as woken:
            if self._finished.get(run_id) is not None:
                return True
            if self._callbacks is not None and await self._callbacks.spent(run_id):
                return True  # its callback reached another replica before this pause subscribed
            return await pause(woken, seconds, self._sleep)

    async def expects_callback(self, run_id: str) -> bool:
        """True while a callback for this run is still to come: pollers may then read it rarely."""
        return self._callbacks is not None and await self._callbacks.expected(run_id)

    def poll_interval(self, run_id: str) -> float:
        """Seconds until the run is worth reading again: the back-off ``wait`` follows (tasks share it)."""
        return self._intervals.get(run_id) or self._settings.run.poll_interval_seconds

    def back_off(self, run_id: str, interval: float | None = None) -> float:
        """One back-off step from ``interval`` (default: the run's current one), remembered for the run."""
        current = self.poll_interval(run_id) if interval is None else interval
        longer = min(max(current * 1.5, 1.0), MAX_POLL_INTERVAL)
        self._intervals.put(run_id, longer)
        return longer

    async def get_outputs(self, run_id: str) -> RunOutputs:
        run_id = parse_guid(run_id, argument="run_id")
        known = self._outputs.get(run_id)
        if known is not None:
            return known.model_copy(deep=True)
        content = await self._client.get_flow_session_outputs(run_id)
        if content is None:
            run = await self.get_run(run_id)  # not_found here means the run itself does not exist
            if not run.is_terminal:
                note = (
                    f"The run is {run.status}; outputs appear once it has finished. Call wait_for_desktop_flow_run "
                    "first."
                )
                return RunOutputs(run_id=run_id, outputs={}, note=note)
            result = RunOutputs(run_id=run_id, outputs={}, note="The run finished without outputs.")
        else:
            result = _parse_outputs(run_id, content)  # Dataverse writes the outputs file once, when the run ends
        self._outputs.put(run_id, result.model_copy(deep=True))
        return result

    async def cancel(self, run_id: str) -> CancelledRun:
        run_id = parse_guid(run_id, argument="run_id")
        row = await self._client.get_flow_session(run_id)
        before = FlowRun.from_row(row)
        if self._catalogue.allowed.active:  # a run of a flow this server may not run, it may not cancel either
            if before.flow_id is None:
                raise not_allowed(f"the flow of run {run_id}")
            await self._catalogue.resolve_allowed(before.flow_id)
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
        if not after.is_terminal:
            self._cancelling.put(run_id, True)
        hint = None if after.is_terminal else "Cancellation was requested; the run stops shortly."
        return CancelledRun(run_id=run_id, cancelled=True, status=after.status, hint=hint)

    async def list_runs(self, *, flow: str | None, status: str | None, limit: int, cursor: str | None) -> RunList:
        next_link: str | None = None
        flow_id: str | None = None
        if flow:
            flow_id = (await self._catalogue.resolve(flow)).id
        if cursor:
            token = self._cursors.decode("runs", cursor, tool="list_desktop_flow_runs")
            made_for_flow, _, made_for_status = token.extra.partition("|")
            refuse_other_arguments(
                {"flow": made_for_flow or None, "status": made_for_status or None}, {"flow": flow_id, "status": status}
            )
            next_link, limit = token.next_link, token.page_size
        page = await self._client.list_flow_sessions(
            flow_id=flow_id,
            status_code=int(RunStatus[status]) if status else None,
            page_size=limit,
            next_link=next_link,
        )
        runs = [FlowRun.from_row(row) for row in page.rows]
        extra = f"{flow_id or ''}|{status or ''}"
        next_cursor = self._cursors.encode("runs", PageToken(page.next_link, limit, extra)) if page.next_link else None
        return RunList(runs=runs, next_cursor=next_cursor)


def _parse_outputs(run_id: str, content: bytes) -> RunOutputs:
    text = content.decode("utf-8", errors="replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        return RunOutputs(run_id=run_id, outputs=text, note="The outputs are not JSON; returned as text.")
    if isinstance(parsed, dict):
        return RunOutputs(run_id=run_id, outputs=cast(dict[str, Any], parsed))
    return RunOutputs(run_id=run_id, outputs=text, note="The outputs are JSON but not an object; returned as text.")


_STATUS_UNREADABLE_HINT = (
    "The run started, but this identity cannot read run status (that needs Owner-level access to flow sessions, "
    "while starting a run needs only User). Check it in the Power Automate portal, or ask an admin for read "
    "access to Flow Sessions."
)
