"""Finding desktop flows: lists, schemas, connection references, name resolution and the allow-list.

What the catalogue read moments ago is reused for ``FLOW_TTL`` seconds (a flow's row and its schemas), so a
list → schema → run sequence reads each thing once; a 404 drops what it knew about that flow. Each caller's reads
are its own (``Recent(per_caller=True)``): Dataverse decides which flows each person sees.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from .bounds import MAX_NAME, clean
from .clock import SYSTEM_CLOCK, Clock
from .cursors import CursorCodec, PageToken, refuse_other_arguments
from .dataverse.client import DataverseClient, Page
from .dataverse.odata import is_guid, parse_guid
from .errors import (
    DesktopFlowsError,
    ErrorCode,
    flow_id_not_found,
    flow_name_not_found,
    invalid_argument,
    not_a_desktop_flow,
    not_allowed,
)
from .models import (
    ConnectionReference,
    ConnectionReferenceList,
    DesktopFlow,
    FlowList,
    FlowRef,
    FlowSchema,
)
from .recent import Recent
from .schema import normalise

Which = Literal["inputs", "outputs"]
log = logging.getLogger("desktop_flows_mcp")

MAX_NAME_LENGTH = 100  # workflow.name is String(100)


class AllowList:
    """DESKTOP_FLOWS_ALLOWED: flow GUIDs and exact names (case-insensitive, as Dataverse compares)."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.entries = entries
        self.ids = {parse_guid(e, argument="DESKTOP_FLOWS_ALLOWED") for e in entries if is_guid(e)}
        self.names = {e.lower() for e in entries if not is_guid(e)}

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
        if flow.strip().lower() in self.names:
            return True
        return None if self.ids else False

    def allows(self, ref: FlowRef) -> bool:
        """Decided on the flow's id; a name entry matches its flow's name in any case, character for character."""
        return not self.active or ref.id in self.ids or ref.name.lower() in self.names


@dataclass(frozen=True)
class PublishedFlow:
    """A runnable flow with its raw schemas (``""`` when a column is empty)."""

    ref: FlowRef
    description: str
    inputs: str
    outputs: str


@dataclass(frozen=True)
class UnmatchedEntry:
    """An allow-list entry that lets nothing run: it names no published desktop flow, or more than one."""

    entry: str
    problem: str
    suggestions: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"{self.entry!r} {self.problem}"
        if self.suggestions:
            return text + "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        return text + "."


@dataclass(frozen=True)
class AllowListCheck:
    flows: list[PublishedFlow]  # the published flows the allow-list names
    unmatched: list[UnmatchedEntry]


FLOW_TTL = 60.0  # seconds a flow's row and schemas are reused
SUGGESTIONS = 3


class FlowCatalogue:
    def __init__(
        self,
        client: DataverseClient,
        allowed: AllowList,
        cursors: CursorCodec,
        *,
        clock: Clock = SYSTEM_CLOCK,
        read_only: bool = False,
    ) -> None:
        self._client = client
        self.allowed = allowed
        self.read_only = read_only  # nothing is runnable from a read-only server
        self._cursors = cursors
        # by flow id; lower-case name → flow id; (flow id, which) → schema text, "" when empty
        self._refs: Recent[str, FlowRef] = Recent(FLOW_TTL, 500, clock, per_caller=True)
        self._ids_by_name: Recent[str, str] = Recent(FLOW_TTL, 500, clock, per_caller=True)
        self._schemas: Recent[tuple[str, Which], str] = Recent(FLOW_TTL, 200, clock, per_caller=True)

    async def list_flows(self, *, search: str | None, include_drafts: bool, limit: int, cursor: str | None) -> FlowList:
        next_link: str | None = None
        if cursor:
            token = self._cursors.decode("flows", cursor, tool="list_desktop_flows")
            made_for = {
                "search": token.extra.split("|", 1)[1] or None,
                "include_drafts": token.extra.startswith("drafts"),
            }
            refuse_other_arguments(made_for, {"search": search, "include_drafts": include_drafts or None})
            next_link, limit, include_drafts = token.next_link, token.page_size, bool(made_for["include_drafts"])
        page = await self._client.list_desktop_flows(
            search=search, include_drafts=include_drafts, page_size=limit, next_link=next_link
        )
        self._remember_page(page)
        flows = [
            DesktopFlow.from_row(row, allowed=not self.read_only and self.allowed.allows(FlowRef.from_row(row)))
            for row in page.rows
        ]
        next_cursor = None
        if page.next_link:
            extra = ("drafts" if include_drafts else "") + "|" + (search or "")
            next_cursor = self._cursors.encode("flows", PageToken(page.next_link, limit, extra))
        return FlowList(flows=flows, next_cursor=next_cursor)

    def _remember_page(self, page: Page) -> None:
        """Keep each listed flow, and its name unless the name is ambiguous or might continue on the next page
        (the list is sorted by name, so a duplicate can only hide there)."""
        refs = [FlowRef.from_row(row) for row in page.rows]
        names = [ref.name.lower() for ref in refs]
        for index, ref in enumerate(refs):
            self._refs.put(ref.id, ref)
            last = index == len(refs) - 1 and page.next_link is not None
            if names.count(names[index]) == 1 and not last:
                self._ids_by_name.put(names[index], ref.id)

    async def resolve(self, flow: str, *, fresh: bool = False) -> FlowRef:
        """A flow GUID or exact name (case-insensitive) → the flow; invalid_argument when a name is ambiguous.
        ``fresh`` reads the flow's row now instead of reusing one read in the last FLOW_TTL seconds."""
        text = flow.strip()
        if not text:
            raise invalid_argument("flow must be a desktop flow GUID or its exact name (got an empty string).")
        if is_guid(text):
            return await self._by_id(parse_guid(text, argument="flow"), fresh=fresh)
        if len(text) > MAX_NAME_LENGTH:
            raise invalid_argument(f"flow names are at most {MAX_NAME_LENGTH} characters (got {len(text)}).")
        known = None if fresh else self._ids_by_name.get(text.lower())
        ref = self._refs.get(known) if known else None
        if ref is not None and ref.name.lower() == text.lower():
            return ref
        rows = await self._client.find_desktop_flows_by_name(text)
        if not rows:
            raise flow_name_not_found(text, await self._suggest(text))
        if len(rows) > 1:
            candidates = ", ".join(f"{FlowRef.from_row(r).id} ({FlowRef.from_row(r).state})" for r in rows)
            raise invalid_argument(
                f"{len(rows)} desktop flows are named {text!r}: {candidates}.",
                hint="Call again with the flow's id instead of its name.",
            )
        ref = FlowRef.from_row(rows[0])
        self._refs.put(ref.id, ref)
        self._ids_by_name.put(ref.name.lower(), ref.id)
        return ref

    async def _by_id(self, flow_id: str, *, fresh: bool = False) -> FlowRef:
        cached = None if fresh else self._refs.get(flow_id)
        if cached is not None:
            return cached
        try:
            row = await self._client.get_workflow(flow_id)
        except DesktopFlowsError as error:
            if error.code is ErrorCode.NOT_FOUND:
                self.forget(flow_id)
                raise flow_id_not_found(flow_id, error) from error
            raise
        ref = FlowRef.from_row(row)
        if not ref.is_desktop_flow:
            raise not_a_desktop_flow(flow_id, ref.category)
        self._refs.put(ref.id, ref)
        return ref

    async def _suggest(self, name: str) -> list[str]:
        """Up to three real names close to ``name``, from one query of names only; none if that query fails."""
        try:
            names = await self._client.list_desktop_flow_names()
        except DesktopFlowsError:
            return []
        return close_names(name, names)

    async def check_allow_list(self) -> AllowListCheck:
        """Which DESKTOP_FLOWS_ALLOWED entries name exactly one published desktop flow, and why the others do not
        (with close real names): one request, and one names-only query when an entry matches nothing."""
        if not self.allowed.active:
            return AllowListCheck([], [])
        flows = await self.allowed_published_flows()
        ids = {flow.ref.id for flow in flows}
        per_name = Counter(flow.ref.name.lower() for flow in flows)
        unmatched: list[UnmatchedEntry] = []
        unknown: list[str] = []
        for entry in self.allowed.entries:
            if is_guid(entry):
                if parse_guid(entry, argument="DESKTOP_FLOWS_ALLOWED") not in ids:
                    unmatched.append(UnmatchedEntry(entry, "is not the id of a published desktop flow"))
            elif per_name[entry.lower()] > 1:
                problem = f"names {per_name[entry.lower()]} published desktop flows; list the one you mean by its id"
                unmatched.append(UnmatchedEntry(entry, problem))
            elif not per_name[entry.lower()]:
                unknown.append(entry)
        if unknown:
            try:
                names = await self._client.list_desktop_flow_names()
            except DesktopFlowsError:  # the suggestions are a courtesy; the entries are unmatched all the same
                names = []
            existing = {name.lower() for name in names}
            for entry in unknown:
                if entry.lower() in existing:
                    unmatched.append(UnmatchedEntry(entry, "names a desktop flow that is not published (a draft?)"))
                else:
                    suggestions = tuple(close_names(entry, names))
                    unmatched.append(UnmatchedEntry(entry, "matches no published desktop flow", suggestions))
        order = {entry: index for index, entry in enumerate(self.allowed.entries)}
        unmatched.sort(key=lambda item: order[item.entry])
        return AllowListCheck(flows, unmatched)

    async def allowed_published_flows(self) -> list[PublishedFlow]:
        """Every published flow the allow-list names, with its schemas, from one request; each is kept as a lookup
        would keep it, so a run soon after reads nothing again."""
        rows = await self._client.find_published_desktop_flows(sorted(self.allowed.ids), sorted(self.allowed.names))
        found: list[PublishedFlow] = []
        for row in rows:
            ref = FlowRef.from_row(row)
            if ref.state == "published" and self.allowed.allows(ref):
                inputs, outputs, description = (_text_column(row, c) for c in ("inputs", "outputs", "description"))
                self.remember(ref, inputs, outputs)
                found.append(PublishedFlow(ref, description, inputs, outputs))
        return found

    def remember(self, ref: FlowRef, inputs: str, outputs: str) -> None:
        """Keep a flow and its raw schemas read elsewhere (the per-flow tools' one read), as a lookup would."""
        self._refs.put(ref.id, ref)
        self._schemas.put((ref.id, "inputs"), inputs)
        self._schemas.put((ref.id, "outputs"), outputs)

    def forget(self, flow_id: str) -> None:
        """Drop what is known of a flow (it answered 404, or a run start said it is gone)."""
        ref = self._refs.get(flow_id)
        self._refs.drop(flow_id)
        if ref is not None:
            self._ids_by_name.drop(ref.name.lower())
        for which in ("inputs", "outputs"):
            self._schemas.drop((flow_id, which))

    async def resolve_allowed(self, flow: str, *, fresh: bool = False) -> FlowRef:
        """Resolve, enforcing the allow-list; refused before any request when the argument alone decides.
        A run start asks for ``fresh``: a flow renamed off the list or unpublished moments ago is refused at once,
        for one small read of its row (its schema may still come from the cache)."""
        verdict = self.allowed.decide_before_lookup(flow)
        if verdict is False:
            raise not_allowed(flow)
        ref = await self.resolve(flow, fresh=fresh)
        if verdict is None and not self.allowed.allows(ref):
            raise not_allowed(ref.name)
        return ref

    async def schema_text(self, flow_id: str, which: Which) -> str:
        """A flow's raw inputs or outputs schema ("" when the column is empty), reused for FLOW_TTL seconds."""
        cached = self._schemas.get((flow_id, which))
        if cached is not None:
            return cached
        try:
            text = await self._client.get_flow_schema_text(flow_id, which) or ""
        except DesktopFlowsError as error:
            if error.code is ErrorCode.NOT_FOUND:
                self.forget(flow_id)
            raise
        self._schemas.put((flow_id, which), text)
        return text

    async def get_schema(self, flow: str) -> FlowSchema:
        if is_guid(flow):  # the flow lookup and both schemas in parallel
            flow_id = parse_guid(flow, argument="flow")
            ref, inputs, outputs = await gather(
                self.resolve(flow_id), self.schema_text(flow_id, "inputs"), self.schema_text(flow_id, "outputs")
            )
        else:
            ref = await self.resolve(flow)
            inputs, outputs = await gather(self.schema_text(ref.id, "inputs"), self.schema_text(ref.id, "outputs"))
        return FlowSchema(
            flow_id=ref.id,
            name=clean(ref.name, MAX_NAME),
            inputs=normalise(inputs, closed=True),
            outputs=normalise(outputs, closed=False),
        )

    async def list_connection_references(self, *, search: str | None, limit: int = 200) -> ConnectionReferenceList:
        page = await self._client.list_connection_references(search=search, limit=limit)
        references = [ConnectionReference.from_row(row) for row in page.rows]
        return ConnectionReferenceList(connection_references=references, truncated=page.next_link is not None)


def close_names(name: str, names: list[str]) -> list[str]:
    """Up to three of ``names`` close to ``name`` (case-insensitive), closest first."""
    by_key = {candidate.lower(): candidate for candidate in names}
    close = difflib.get_close_matches(name.lower(), list(by_key), n=SUGGESTIONS, cutoff=0.6)
    return [by_key[key] for key in close]


def unmatched_warning(unmatched: list[UnmatchedEntry]) -> str:
    """The one log line that names every allow-list entry that lets nothing run."""
    entries = " ".join(item.describe() for item in unmatched)
    return f"DESKTOP_FLOWS_ALLOWED: {entries} Such an entry allows nothing: give the flow's exact name or its id."


async def warn_unmatched_allowed(catalogue: FlowCatalogue) -> None:
    """At start-up: name the allow-list entries that match no published flow (never fails the server)."""
    try:
        check = await catalogue.check_allow_list()
    except Exception as error:  # a start-up courtesy: a failed read is told by the first tool call instead
        log.info("DESKTOP_FLOWS_ALLOWED not checked at start-up: %s", error)
        return
    if check.unmatched:
        log.warning("%s", unmatched_warning(check.unmatched))


def _text_column(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return value if isinstance(value, str) else ""


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
