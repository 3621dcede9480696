"""Starting a run: every check before Dataverse is asked, then at most one run per idempotency key.

Before the request: connection, callback URL, input size, allow-list, published state and the inputs against the
flow's schema (a refused call sends nothing); then, when DESKTOP_FLOWS_APPROVAL covers the start, a person's
approval (``approval``; with a key, once per key, under its lock). The start itself issues and binds a callback
token when this deployment can be called back, remembers the run for waits and the licence check Dataverse
answered. With an
idempotency key, an uncertain earlier start is adopted only when ``adoption`` proves it made the run; once a run
is accepted, whatever goes wrong while following it, the result carries its run_id. Keys are the caller's own
(``call_scope.owned``): the same key from two people names two runs.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any, Literal

import anyio

from ..adoption import HORIZON_SECONDS, RunAdopter
from ..approval import Preview, start_preview
from ..bounds import MAX_NAME, clean
from ..call_scope import answer_at_once, owned
from ..config.callback_urls import check_callback_url
from ..dataverse.client import RunDesktopFlowRequest
from ..dataverse.flow_operations import MARKER_BYTES, MARKER_CHARS
from ..dataverse.odata import is_guid, parse_guid
from ..errors import (
    DesktopFlowsError,
    ErrorCode,
    inputs_too_large,
    invalid_argument,
    key_reused_with_other_arguments,
    run_status_unknown,
    uncertain_keyed_start,
    unproven_runs,
)
from ..flows import gather
from ..idempotency import Attempt, IdempotencyKeys, KeyRecord, digest, inputs_digest
from ..models import ConnectionType, FlowRef, FlowRun, RunMode, RunStatus, StartedRun
from ..schema import normalise, validate_inputs
from .context import Progress, RunContext, no_progress
from .waiting import RunWaiter

MAX_INPUT_BYTES = 2 * 1024 * 1024
RECHECK_SECONDS = 30.0  # while uncertain, the agent is asked to call again this often (or at the horizon)
audit = logging.getLogger("desktop_flows_mcp.audit")
log = logging.getLogger("desktop_flows_mcp")


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


class RunStarter:
    def __init__(self, context: RunContext, keys: IdempotencyKeys, waiter: RunWaiter) -> None:
        self._context = context
        self._keys = keys
        self._waiter = waiter
        self._adopter = RunAdopter(context.client, context.clock)

    async def run(self, request: RunRequest, progress: Progress = no_progress) -> StartedRun:
        connection, connection_type = self._connection(request)
        run_mode = request.run_mode or self._context.settings.run.run_mode
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
        size = len(wire.inputs_json.encode()) + (MARKER_CHARS if request.idempotency_key else 0)
        if size > MAX_INPUT_BYTES:
            raise inputs_too_large(size, MAX_INPUT_BYTES)
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
            flow_name=clean(ref.name, MAX_NAME),
            status=RunStatus.Waiting.name,
            status_code=int(RunStatus.Waiting),
            is_terminal=False,
            run_mode=run_mode,
            connection_name=connection,
            connection_type=connection_type,
            hint="The run is queued. Call wait_for_desktop_flow_run with this run_id to follow it to the end.",
        )
        approval = self._needs_approval(ref, wire, schema_text)
        if request.idempotency_key:
            started = await self._start_once(request.idempotency_key, ref, wire, started, approval)
        else:
            if approval is not None:
                await self._approve(approval)
            started = await self._start(ref, wire, started)
        if request.wait_seconds > 0 and not answer_at_once.get():
            return await self._wait_after_start(started, request.wait_seconds, progress)
        return started

    def _needs_approval(self, ref: FlowRef, wire: RunDesktopFlowRequest, schema_text: str) -> Preview | None:
        """What the person approves, when DESKTOP_FLOWS_APPROVAL covers this start; else None."""
        gate = self._context.approvals
        if gate is None or not gate.covers(ref.id, ref.name, wire.run_mode):
            return None
        return start_preview(
            flow=ref.name,
            flow_id=ref.id,
            connection=wire.connection_name,
            connection_type=wire.connection_type,
            run_mode=wire.run_mode,
            run_priority=wire.run_priority,
            inputs=wire.inputs,
            schema_text=schema_text,
        )

    async def _approve(self, preview: Preview, key: str | None = None) -> None:
        assert self._context.approvals is not None
        await self._context.approvals.approve(preview, key=key)

    async def _flow_and_input_schema(self, flow: str) -> tuple[FlowRef, str]:
        """The flow (allow-list enforced on its row as Dataverse has it now) and its input schema text; for a GUID
        the allow-list does not refuse outright, both are read in parallel: one round trip less on every run."""
        catalogue = self._context.catalogue
        if not is_guid(flow) or catalogue.allowed.decide_before_lookup(flow) is False:
            ref = await catalogue.resolve_allowed(flow, fresh=True)
            return ref, await catalogue.schema_text(ref.id, "inputs")
        flow_id = parse_guid(flow, argument="flow")
        ref, text = await gather(catalogue.resolve_allowed(flow, fresh=True), catalogue.schema_text(flow_id, "inputs"))
        return ref, text

    def _connection(self, request: RunRequest) -> tuple[str, ConnectionType]:
        defaults = self._context.settings.run
        connection = (request.connection_name or defaults.connection_name or "").strip()
        if not connection:
            raise invalid_argument(
                "No connection to run on: pass connection_name, or set DESKTOP_FLOWS_CONNECTION for this server.",
                hint="Call list_connection_references to find a desktop flow connection reference, and pass its "
                "logical_name with connection_type='connection_reference'.",
            )
        if len(connection) > 200:
            raise invalid_argument("connection_name is at most 200 characters.")
        connection_type = request.connection_type or (
            defaults.connection_type if not request.connection_name else "connection"
        )
        return connection, connection_type

    async def _start(self, ref: FlowRef, wire: RunDesktopFlowRequest, started: StartedRun) -> StartedRun:
        context = self._context
        callbacks = context.callbacks
        issued = await callbacks.issue() if callbacks and wire.callback_url is None else None
        if issued is not None:  # after the idempotency fingerprint: a retry with the same key stays the same call
            wire = replace(wire, callback_url=issued[1])
        try:
            response = await context.client.run_desktop_flow(ref.id, wire)
        except BaseException as error:
            if isinstance(error, DesktopFlowsError) and error.code is ErrorCode.NOT_FOUND:
                context.catalogue.forget(ref.id)
            if callbacks and issued is not None:
                with anyio.CancelScope(shield=True):
                    await callbacks.discard(issued[0])
            raise
        if callbacks and issued is not None:
            with anyio.CancelScope(shield=True):
                await callbacks.bind(issued[0], response.run_id, wire.timeout_seconds)
        audit.info(
            "run started flow_id=%s flow=%r run_id=%s connection=%r run_mode=%s inputs_bytes=%d",
            ref.id,
            ref.name,
            response.run_id,
            wire.connection_name,
            wire.run_mode,
            len(wire.inputs_json.encode()),
            extra={"flow": ref.id, "run_id": response.run_id, "outcome": "started"},
        )
        context.just_started.put(response.run_id, context.clock.monotonic())
        context.read_at.put(response.run_id, context.clock.monotonic())  # Dataverse just said Waiting
        if response.license_check:
            context.licence_checks.put(response.run_id, response.license_check)
        return started.model_copy(update={"run_id": response.run_id, "license_check": response.license_check})

    async def _start_once(
        self, key: str, ref: FlowRef, wire: RunDesktopFlowRequest, started: StartedRun, approval: Preview | None
    ) -> StartedRun:
        """At most one run per key: an uncertain earlier start stays uncertain until its own run is found (its
        marker) or Dataverse can no longer create it (``HORIZON_SECONDS``); only then may a retry start afresh.
        A person approves once per key: only a start with no earlier record asks (an earlier attempt was approved)."""
        clock = self._context.clock.monotonic
        fingerprint = digest(json.dumps([ref.id, wire.body()], sort_keys=True))
        key = owned(key)  # each person's keys are their own: Bob's "k1" never finds Alice's run
        async with self._keys.lock(key):
            record = await self._keys.get(key)
            if record is not None and record.fingerprint != fingerprint:
                raise key_reused_with_other_arguments()
            if record is not None and record.run_id is None and record.attempt is not None:
                await self._settle_attempt(key, record)
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
            if approval is not None and record is None:
                await self._approve(approval, digest(key, fingerprint))
            marker = secrets.token_bytes(MARKER_BYTES)
            began = self._context.clock.now()
            marker_digest = digest(marker.hex())
            attempt = Attempt(
                ref.id,
                wire.connection_name,
                wire.connection_type,
                inputs_digest(wire.inputs, marker_digest),
                marker_digest,
                began,
                began,
                clock(),
            )
            await self._keys.remember(key, KeyRecord(fingerprint, clock(), None, attempt, in_flight=True))
            try:
                result = await self._start(ref, replace(wire, marker=marker), started)
            except DesktopFlowsError as error:
                await self._after_failed_start(key, fingerprint, attempt, error)
                if error.outcome_unknown:
                    raise uncertain_keyed_start(error, RECHECK_SECONDS) from error
                raise
            except BaseException:  # cancelled mid-start (or a bug): the outcome is unknown, never forgotten
                with anyio.CancelScope(shield=True):
                    await self._keep_uncertain(key, fingerprint, attempt)
                raise
            try:
                await self._keys.remember(key, KeyRecord(fingerprint, clock(), result.run_id))
            except DesktopFlowsError as error:  # the run started: its id goes back whatever happens to the record
                log.warning("run %s started, but its idempotency key was not recorded: %s", result.run_id, error)
            return result

    async def _settle_attempt(self, key: str, record: KeyRecord) -> None:
        """Sets ``record.run_id`` to the attempt's own run when Dataverse shows it; raises while it may still
        appear (``run_status_unknown``) or when only runs without its marker look like it (``conflict``); returns
        with no run_id when the attempt provably started nothing, so the caller starts afresh."""
        assert record.attempt is not None
        attempt = record.attempt
        if record.in_flight:  # its holder stopped mid-start (a replica died): uncertain from now on
            attempt = self._ended(attempt)
            await self._keys.remember(
                key, KeyRecord(record.fingerprint, self._context.clock.monotonic(), None, attempt)
            )
        finding = await self._adopter.find(
            attempt, claimed_among=lambda runs: self._keys.claimed_among(runs, except_key=key)
        )
        if finding.proven is not None:
            await self._keys.remember(
                key, KeyRecord(record.fingerprint, self._context.clock.monotonic(), finding.proven)
            )
            audit.info("run adopted for an idempotency key flow_id=%s run_id=%s", attempt.flow_id, finding.proven)
            record.run_id = finding.proven
            return
        horizon_in = attempt.ended_at + HORIZON_SECONDS - self._context.clock.monotonic()
        if horizon_in > 0:
            raise run_status_unknown(min(horizon_in, RECHECK_SECONDS), horizon_in, finding.unproven)
        if finding.unproven:
            raise unproven_runs(finding.unproven)

    def _ended(self, attempt: Attempt) -> Attempt:
        """The attempt, marked as ended now: the horizon counts from here."""
        return replace(attempt, ended=self._context.clock.now(), ended_at=self._context.clock.monotonic())

    async def _keep_uncertain(self, key: str, fingerprint: str, attempt: Attempt) -> None:
        try:
            await self._keys.remember(
                key, KeyRecord(fingerprint, self._context.clock.monotonic(), None, self._ended(attempt))
            )
        except DesktopFlowsError as store_error:  # the in-flight record stays: still uncertain, never forgotten
            log.warning("the idempotency key of a stopped start was not updated: %s", store_error.message)

    async def _after_failed_start(self, key: str, fingerprint: str, attempt: Attempt, error: DesktopFlowsError) -> None:
        """An uncertain start is kept (uncertain until its run is found or the horizon passes), a refused one
        forgotten (a retry may start afresh). Should the store fail now, the in-flight record stays: uncertain."""
        if error.outcome_unknown:
            await self._keep_uncertain(key, fingerprint, attempt)
            return
        try:
            await self._keys.forget(key)
        except DesktopFlowsError as store_error:
            log.warning("the idempotency key of a failed start was not updated: %s", store_error.message)

    async def _wait_after_start(self, started: StartedRun, wait_seconds: float, progress: Progress) -> StartedRun:
        """Follow a run that Dataverse accepted. Whatever goes wrong now, the result carries its run_id: an error
        here would invite a retry, and a retry would start a second run."""
        try:
            run = await self._waiter.wait(started.run_id, wait_seconds, progress)
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


_STATUS_UNREADABLE_HINT = (
    "The run started, but this identity cannot read run status (that needs Owner-level access to flow sessions, "
    "while starting a run needs only User). Check it in the Power Automate portal, or ask an admin for read "
    "access to Flow Sessions."
)
