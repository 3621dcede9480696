"""Finding desktop flows: lists, schemas, connection references, name resolution and the allow-list."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from .cursors import CursorCodec, PageToken
from .dataverse.client import DataverseClient, Row
from .dataverse.odata import is_guid, parse_guid
from .errors import DesktopFlowsError, ErrorCode, invalid_argument
from .models import (
    ConnectionReference,
    ConnectionReferenceList,
    DesktopFlow,
    FlowList,
    FlowSchema,
    flow_state,
    parse_timestamp,
)
from .schema import normalise

MAX_NAME_LENGTH = 100  # workflow.name is String(100)


@dataclass(frozen=True)
class FlowRef:
    id: str
    name: str
    state: str


class AllowList:
    """DESKTOP_FLOWS_ALLOWED: flow GUIDs and exact names (case-insensitive, as Dataverse compares)."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.ids = {parse_guid(e, argument="DESKTOP_FLOWS_ALLOWED") for e in entries if is_guid(e)}
        self.names = {e.casefold() for e in entries if not is_guid(e)}

    @property
    def active(self) -> bool:
        return bool(self.ids or self.names)

    def decide_before_lookup(self, flow: str) -> bool | None:
        """True/False when the argument alone decides; None when the flow must be looked up first."""
        if not self.active:
            return True
        if is_guid(flow):
            if parse_guid(flow, argument="flow") in self.ids:
                return True
            return None if self.names else False
        if flow.strip().casefold() in self.names:
            return True
        return None if self.ids else False

    def allows(self, ref: FlowRef) -> bool:
        return not self.active or ref.id in self.ids or ref.name.casefold() in self.names


def not_allowed(flow: str) -> DesktopFlowsError:
    return DesktopFlowsError(
        ErrorCode.FLOW_NOT_ALLOWED,
        f"Desktop flow {flow!r} is not in DESKTOP_FLOWS_ALLOWED, so this server will not run it. Nothing was sent.",
        hint="Call list_desktop_flows and pick a flow whose runnable is true, or ask the person who configured this "
        "server to add the flow to DESKTOP_FLOWS_ALLOWED.",
    )


class FlowCatalogue:
    def __init__(self, client: DataverseClient, allowed: AllowList, cursors: CursorCodec) -> None:
        self._client = client
        self.allowed = allowed
        self._cursors = cursors

    async def list_flows(self, *, search: str | None, include_drafts: bool, limit: int, cursor: str | None) -> FlowList:
        next_link: str | None = None
        if cursor:
            token = self._cursors.decode("flows", cursor, tool="list_desktop_flows")
            next_link, limit, include_drafts = token.next_link, token.page_size, token.extra == "drafts"
        page = await self._client.list_desktop_flows(
            search=search, include_drafts=include_drafts, page_size=limit, next_link=next_link
        )
        flows = [self._to_flow(row) for row in page.rows]
        next_cursor = None
        if page.next_link:
            extra = "drafts" if include_drafts else ""
            next_cursor = self._cursors.encode("flows", PageToken(page.next_link, limit, extra))
        return FlowList(flows=flows, next_cursor=next_cursor)

    def _to_flow(self, row: Row) -> DesktopFlow:
        ref = _ref(row)
        return DesktopFlow(
            id=ref.id,
            name=ref.name,
            description=(row.get("description") or None),
            state=flow_state(row.get("statecode")),
            modified_on=parse_timestamp(row.get("modifiedon")),
            runnable=ref.state == "published" and self.allowed.allows(ref),
        )

    async def resolve(self, flow: str) -> FlowRef:
        """A flow GUID or exact name (case-insensitive) → the flow; invalid_argument when a name is ambiguous."""
        text = flow.strip()
        if not text:
            raise invalid_argument("flow must be a desktop flow GUID or its exact name (got an empty string).")
        if is_guid(text):
            flow_id = parse_guid(text, argument="flow")
            try:
                row = await self._client.get_workflow(flow_id)
            except DesktopFlowsError as error:
                if error.code is ErrorCode.NOT_FOUND:
                    error.message = f"No desktop flow has id {flow_id}. ({error.message})"
                raise
            if row.get("category") not in (6, None):
                raise DesktopFlowsError(
                    ErrorCode.NOT_FOUND,
                    f"Workflow {flow_id} exists but is not a desktop flow (category {row.get('category')}).",
                    hint="Call list_desktop_flows to see the desktop flows in this environment.",
                )
            return _ref(row)
        if len(text) > MAX_NAME_LENGTH:
            raise invalid_argument(f"flow names are at most {MAX_NAME_LENGTH} characters (got {len(text)}).")
        rows = await self._client.find_desktop_flows_by_name(text)
        if not rows:
            raise DesktopFlowsError(
                ErrorCode.NOT_FOUND,
                f"No desktop flow is named {text!r}.",
                hint=f"Names must match exactly. Call list_desktop_flows with search={text[:30]!r} to find it.",
            )
        if len(rows) > 1:
            candidates = ", ".join(f"{_ref(r).id} ({_ref(r).state})" for r in rows)
            raise invalid_argument(
                f"{len(rows)} desktop flows are named {text!r}: {candidates}.",
                hint="Call again with the flow's id instead of its name.",
            )
        return _ref(rows[0])

    async def resolve_allowed(self, flow: str) -> FlowRef:
        """Resolve, enforcing the allow-list; refused before any request when the argument alone decides."""
        verdict = self.allowed.decide_before_lookup(flow)
        if verdict is False:
            raise not_allowed(flow)
        ref = await self.resolve(flow)
        if verdict is None and not self.allowed.allows(ref):
            raise not_allowed(ref.name)
        return ref

    async def get_schema(self, flow: str) -> FlowSchema:
        async def text(which: Literal["inputs", "outputs"]) -> Any:
            return await self._client.get_flow_schema_text(flow_id, which)

        if is_guid(flow):  # the flow lookup and both schemas in parallel
            flow_id = parse_guid(flow, argument="flow")
            ref, inputs, outputs = await gather(self.resolve(flow_id), text("inputs"), text("outputs"))
        else:
            ref = await self.resolve(flow)
            flow_id = ref.id
            inputs, outputs = await gather(text("inputs"), text("outputs"))
        return FlowSchema(
            flow_id=ref.id,
            name=ref.name,
            inputs=normalise(inputs, closed=True),
            outputs=normalise(outputs, closed=False),
        )

    async def list_connection_references(self, *, search: str | None, limit: int = 200) -> ConnectionReferenceList:
        page = await self._client.list_connection_references(search=search, limit=limit)
        references = [
            ConnectionReference(
                logical_name=str(row.get("connectionreferencelogicalname") or ""),
                display_name=row.get("connectionreferencedisplayname"),
                connector_id=row.get("connectorid"),
                connection_id=row.get("connectionid"),
            )
            for row in page.rows
        ]
        return ConnectionReferenceList(connection_references=references, truncated=page.next_link is not None)


def _ref(row: Row) -> FlowRef:
    return FlowRef(
        id=str(row.get("workflowid") or ""), name=str(row.get("name") or ""), state=flow_state(row.get("statecode"))
    )


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """Await concurrently; the first failure is raised as itself (not an ExceptionGroup)."""
    results: list[Any] = [None] * len(calls)
    failures: list[BaseException] = []

    async def run(index: int, call: Awaitable[Any]) -> None:
        try:
            results[index] = await call
        except Exception as exc:
            failures.append(exc)

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    if failures:
        raise failures[0]
    return results
