"""Which run, if any, an uncertain start left behind: a run is this attempt's only when it carries its marker.

A keyed start writes a random 128-bit marker into the whitespace of its inputs string
(``dataverse.flow_operations.marked_inputs``); Dataverse keeps that string as the run's ``inputs`` file and returns
it from ``flowsessions(id)/inputs/$value``. The next call with the key (see ``runs.starting``):

1. lists the runs this identity started (``_ownerid_value`` is WhoAmI's UserId) of the flow since the attempt
   began up to now or its horizon (each widened by ``SKEW``: Dataverse's clock may differ from ours), every page
   (more than ``MOST_CANDIDATES``: ``conflict``, nothing is started), and keeps those that ran on the attempt's
   connection (a connection reference is resolved to its connection first) and that no other idempotency key owns;
2. reads each one's stored inputs: the run whose marker hashes to the attempt's is its run, **proven**; runs with
   the attempt's inputs but without its marker (a key-less run, another server's) are **unproven** candidates,
   never adopted: the caller names them (``run_status_unknown`` before the horizon, ``conflict`` after).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .call_scope import current_owner
from .clock import Clock
from .dataverse.client import DataverseClient
from .dataverse.flow_operations import read_marker
from .errors import too_many_candidates
from .idempotency import Attempt, digest, inputs_digest
from .models import RunOwnership
from .models.identity import WhoAmI

SKEW = timedelta(seconds=60)
# Dataverse ends a request it is still processing within 2 minutes; a request that waited in front of it, or a
# reply lost on the way, is covered by the rest (README "Exactly once"). After this long since an uncertain
# attempt ended, its run exists by now or never will.
HORIZON_SECONDS = 300.0
MOST_CANDIDATES = 1000  # runs of one flow by one identity since the attempt: beyond it, no proof is cheap enough


@dataclass(frozen=True)
class Finding:
    proven: str | None = None  # the run carrying the attempt's marker
    unproven: list[str] = field(default_factory=list[str])  # same flow, connection, inputs and identity; no marker


class RunAdopter:
    def __init__(self, client: DataverseClient, clock: Clock) -> None:
        self._client = client
        self._now = clock.now
        self._user_ids: dict[str, str] = {}  # owner (``call_scope``) → WhoAmI's UserId with that caller's sign-in

    async def find(self, attempt: Attempt, *, claimed_among: Callable[[list[str]], Awaitable[set[str]]]) -> Finding:
        """The run ``attempt`` started, if Dataverse shows it yet, and the look-alikes that carry no proof.
        ``claimed_among`` says which of the candidates other idempotency keys already own."""
        me = await self._me()
        if not me:  # WhoAmI named nobody: no run can be proved ours
            return Finding()
        until = min(self._now(), attempt.ended + timedelta(seconds=HORIZON_SECONDS)) + SKEW
        rows = await self._client.list_runs_created_between(
            attempt.flow_id, attempt.began - SKEW, until, owner=me, most=MOST_CANDIDATES
        )
        if rows is None:
            raise too_many_candidates(MOST_CANDIDATES)
        connection = await self._connection_id(attempt)
        candidates = [
            run.run_id
            for run in map(RunOwnership.from_row, rows)
            if run.owner_id == me and (run.connection_id or "").lower() == connection
        ]
        claimed = await claimed_among(candidates) if candidates else set[str]()
        unproven: list[str] = []
        for run_id in (run_id for run_id in candidates if run_id not in claimed):
            verdict = await self._verdict(run_id, attempt)
            if verdict == "proven":
                return Finding(proven=run_id)
            if verdict == "same inputs":
                unproven.append(run_id)
        return Finding(unproven=unproven)

    async def _me(self) -> str:
        owner = current_owner()
        if owner not in self._user_ids:
            if len(self._user_ids) >= 10_000:  # one entry per person; past this many, asking again is cheap
                self._user_ids.clear()
            self._user_ids[owner] = WhoAmI.from_row(await self._client.who_am_i()).user_id or ""
        return self._user_ids[owner]

    async def _connection_id(self, attempt: Attempt) -> str:
        if attempt.connection_type == "connection_reference":
            return (await self._client.get_connection_id(attempt.connection_name) or "").lower()
        return attempt.connection_name.lower()

    async def _verdict(self, run_id: str, attempt: Attempt) -> str:
        """ "proven" (the attempt's marker), "same inputs" (its inputs, no marker) or "other"."""
        stored = await self._client.get_flow_session_inputs(run_id)
        text = (stored or b"{}").decode(errors="replace")
        parsed: Any
        try:
            parsed = json.loads(text)
        except ValueError:
            return "other"
        if isinstance(parsed, str):  # the inputs string itself, JSON-encoded once more
            text = parsed
            try:
                parsed = json.loads(text)
            except ValueError:
                return "other"
        marker = read_marker(text)
        if marker is not None and digest(marker.hex()) == attempt.marker:
            return "proven"
        if isinstance(parsed, dict) and inputs_digest(parsed, attempt.marker) == attempt.inputs:  # pyright: ignore[reportUnknownArgumentType]
            return "same inputs"
        return "other"
