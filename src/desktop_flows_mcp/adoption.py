"""Which run, if any, an uncertain start left behind: the proof an idempotency key needs before it adopts a run.

After a start whose outcome is unknown (5xx, dropped connection, read timeout), the next call with the same key:

1. waits until ``SETTLE_SECONDS`` have passed since the failed attempt ended, so that a run it created is visible;
2. lists the runs this identity started (``_ownerid_value`` is WhoAmI's UserId) of the flow in the attempt's
   window (its start - ``SKEW`` to its end + ``SKEW``, Dataverse's clock may differ from ours), every page of them
   (more than ``MOST_CANDIDATES``: ``conflict``, nothing is started), and keeps those that
   - ran on the attempt's connection (a connection reference is resolved to its connection first),
   - no other idempotency key already owns,
   - stored the attempt's inputs (``flowsessions(id)/inputs/$value``, compared as JSON);
3. exactly one left: that is the run, adopt it. Several: ``conflict`` listing them, and nothing is started. None:
   the attempt started nothing, so the caller starts the run now, once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from .dataverse.client import DataverseClient
from .errors import DesktopFlowsError, ErrorCode
from .idempotency import Attempt

SETTLE_SECONDS = 5.0
SKEW = timedelta(seconds=60)
MOST_CANDIDATES = 1000  # runs of one flow by one identity within two minutes: beyond it, no proof is cheap enough


class RunAdopter:
    def __init__(
        self, client: DataverseClient, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._user_id: str | None = None

    async def find(self, attempt: Attempt, *, claimed_among: Callable[[list[str]], Awaitable[set[str]]]) -> str | None:
        """The run ``attempt`` started, None when it provably started none; conflict when it cannot tell.
        ``claimed_among`` says which of the candidates other idempotency keys already own."""
        settle = attempt.ended_at + SETTLE_SECONDS - self._clock()
        if settle > 0:
            await self._sleep(settle)
        me = await self._me()
        rows = (
            await self._client.list_runs_created_between(
                attempt.flow_id, attempt.began - SKEW, attempt.ended + SKEW, owner=me, most=MOST_CANDIDATES
            )
            if me
            else []  # WhoAmI named nobody: no run can be proved ours
        )
        if rows is None:
            raise DesktopFlowsError(
                ErrorCode.CONFLICT,
                f"The earlier attempt with this idempotency_key failed without an answer, and more than "
                f"{MOST_CANDIDATES} runs of this flow were started around it, too many to tell which one it made. "
                "No run was started.",
                hint="Find the run with list_desktop_flow_runs before starting another; do not retry with this key.",
            )
        connection = await self._connection_id(attempt)
        candidates = [
            str(row["flowsessionid"])
            for row in rows
            if row.get("_ownerid_value") == me and str(row.get("connectionid") or "").lower() == connection
        ]
        claimed = await claimed_among(candidates) if candidates else set[str]()
        candidates = [run_id for run_id in candidates if run_id not in claimed]
        matching = [run_id for run_id in candidates if await self._same_inputs(run_id, attempt.inputs)]
        if len(matching) > 1:
            raise DesktopFlowsError(
                ErrorCode.CONFLICT,
                f"The earlier attempt with this idempotency_key failed without an answer, and {len(matching)} runs "
                f"match it (same flow, connection, inputs and identity, started then): {', '.join(matching)}. "
                "No run was started.",
                hint="Call get_desktop_flow_run for each to see which to keep; cancel_desktop_flow_run the others. "
                "Do not retry with this key.",
            )
        return matching[0] if matching else None

    async def _me(self) -> str:
        if self._user_id is None:
            user_id = (await self._client.who_am_i()).get("UserId")
            self._user_id = user_id if isinstance(user_id, str) else ""
        return self._user_id

    async def _connection_id(self, attempt: Attempt) -> str:
        if attempt.connection_type == "connection_reference":
            return (await self._client.get_connection_id(attempt.connection_name) or "").lower()
        return attempt.connection_name.lower()

    async def _same_inputs(self, run_id: str, inputs: Any) -> bool:
        stored = await self._client.get_flow_session_inputs(run_id)
        if stored is None:
            return not inputs
        try:
            parsed: Any = json.loads(stored)
        except ValueError:
            return False
        if isinstance(parsed, str):  # the inputs string itself, JSON-encoded once more
            try:
                parsed = json.loads(parsed)
            except ValueError:
                return False
        return parsed == inputs
