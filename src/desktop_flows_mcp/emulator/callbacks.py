"""Completion callbacks: a POST to the run's ``callbackUrl`` once it reaches a terminal status.

As documented: headers ``User-Agent: EnterpriseConnectors/1.0``, ``x-ms-workflow-id``,
``x-ms-run-id``; retried three times, one second apart, on 408 or >= 500. Transport errors are
retried the same way (our choice: the receiver never answered). Failures are recorded, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

from .runs import Run, iso, observe, statecode_for

Sleep = Callable[[float], Awaitable[None]]
RETRIES = 3
RETRY_INTERVAL = 1.0


@dataclass
class CallbackDelivery:
    """One callback and what happened to each attempt (an HTTP status, or the transport error)."""

    url: str
    headers: dict[str, str]
    body: dict[str, object]
    attempts: list[int | str] = field(default_factory=list[int | str])

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and isinstance(self.attempts[-1], int) and self.attempts[-1] < 400


class _Borrowed(httpx.AsyncBaseTransport):
    """Lends a caller's transport to a short-lived client without closing it."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)


class CallbackDispatcher:
    def __init__(self, transport: httpx.AsyncBaseTransport | None, sleep: Sleep) -> None:
        self.transport = transport
        self.sleep = sleep
        self.pending: set[str] = set()
        self.deliveries: list[CallbackDelivery] = []

    def watch(self, run: Run) -> None:
        if run.callback_url:
            self.pending.add(run.id)

    async def deliver_due(self, runs: Mapping[str, Run], now: float) -> None:
        due = [
            runs[run_id] for run_id in sorted(self.pending) if run_id in runs and observe(runs[run_id], now).terminal
        ]
        self.pending.difference_update(run.id for run in due)
        for run in sorted(due, key=lambda run: run.created_at):
            await self._deliver(run, now)

    async def _deliver(self, run: Run, now: float) -> None:
        state = observe(run, now)
        assert run.callback_url is not None
        delivery = CallbackDelivery(
            url=run.callback_url,
            headers={
                "User-Agent": "EnterpriseConnectors/1.0",
                "Content-Type": "application/json; charset=utf-8",
                "x-ms-workflow-id": run.workflow_id,
                "x-ms-run-id": run.id,
            },
            body={
                "statuscode": state.statuscode,
                "statecode": statecode_for(state.statuscode),
                "startedon": iso(state.startedon),
                "completedon": iso(state.completedon),
                "flowsessionid": run.id,
            },
        )
        self.deliveries.append(delivery)
        transport = _Borrowed(self.transport) if self.transport is not None else None
        async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
            for attempt in range(RETRIES + 1):
                if attempt:
                    await self.sleep(RETRY_INTERVAL)
                if not await self._attempt(client, delivery):
                    return

    async def _attempt(self, client: httpx.AsyncClient, delivery: CallbackDelivery) -> bool:
        """Send once; True when the answer asks for a retry."""
        try:
            response = await client.post(delivery.url, headers=delivery.headers, content=json.dumps(delivery.body))
        except Exception as error:  # a broken receiver must never break the emulator
            delivery.attempts.append(f"{type(error).__name__}: {error}")
            return True
        delivery.attempts.append(response.status_code)
        return response.status_code == 408 or response.status_code >= 500
