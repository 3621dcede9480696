"""The little state that replicas behind one address must share, in-process by default, in Redis when configured.

    what                              default (one machine)           with DESKTOP_FLOWS_REDIS_URL
    idempotency keys (24 h)           file_keys.FileIdempotencyKeys   redis_keys.RedisIdempotencyKeys
                                      (SQLite in DESKTOP_FLOWS_STATE_DIR; in memory when there is no home)
    70 run starts/min per connection  resilience.RunRateLimiter       redis_limits.RedisRunWindow
    pause after a Dataverse 429       ThrottleGate's own table        + redis_limits.RedisPauseBoard
    cursor signing key                random per process              shared key in Redis
    callback tokens, run wake-ups     run_callbacks (in-process)      redis_callbacks
    the identity's run-read budget    resilience.ReadPacer's own      + redis_limits.RedisReadBudget
    each caller's Dataverse token     the provider's own (per process) redis_tokens.RedisTokens, encrypted
    (on_behalf_of)                                                    (with DESKTOP_FLOWS_ENTRA_TOKEN_CACHE_KEY)
    confirm_tokens, approved keys     approval.InProcessApprovals     redis_approvals.RedisApprovals
    (DESKTOP_FLOWS_CURSOR_SECRET: cursors signed with a key derived from it, with or without Redis)

Everything else is in Dataverse already (a task's id is its run's id). Redis is imported only when configured.
Every store is keyed by the caller too (``call_scope.owned``: idempotency keys, callback bindings, each person's share
of the run window); a single-identity server's callers are one owner whose names are those written before.
Faults: unreachable at start-up, the server does not start (``cli``); lost later, run starts fail closed with
``shared_state_unavailable`` (retryable) while reads go on, and the client reconnects by itself.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from ..approval import ApprovalStore
from ..clock import SYSTEM_CLOCK, Clock
from ..config import Settings
from ..cursors import derive_cursor_key
from ..dataverse.resilience import PauseBoard, RunRateLimiter, RunWindow, SharedReadBudget
from ..idempotency import IdempotencyKeys, IdempotencyStore
from ..telemetry import NO_TELEMETRY, Telemetry

if TYPE_CHECKING:
    from .redis_tokens import RedisTokens


class CallbackTokens(Protocol):
    """Tokens in callback URLs (the in-process one is ``run_callbacks``)."""

    async def issue(self, *, expires_in: float) -> str: ...

    async def bind(self, token: str, run_id: str, *, expires_in: float) -> None: ...

    async def run_for(self, token: str) -> str | None: ...

    async def drop(self, token: str) -> None: ...


class RunWakeups(Protocol):
    """A callback that reaches one replica ends a wait on any replica."""

    async def publish(self, run_id: str) -> None: ...

    def subscribe(self, run_id: str) -> AbstractAsyncContextManager[anyio.Event]: ...


@dataclass
class SharedState:
    keys: IdempotencyKeys
    run_window: RunWindow
    pauses: PauseBoard | None = None  # None: each process keeps its own pauses
    cursor_key: bytes | None = None  # None: a random key per process
    callback_tokens: CallbackTokens | None = None  # None: the in-process ones
    wakeups: RunWakeups | None = None
    read_budget: SharedReadBudget | None = None  # None: each process paces its own reads of runs
    approvals: ApprovalStore | None = None  # None: this process keeps its confirm_tokens (approval.store)
    store: str = "in-process"  # for start-up lines: "in-process" or the Redis address without credentials
    probe: Callable[[], Awaitable[str | None]] | None = None  # readiness: None when the store answers, else why not
    obo_tokens: RedisTokens | None = None  # on_behalf_of with a token cache key: each caller's token, shared


def identity_of(settings: Settings) -> tuple[str | None, ...]:
    """Who signs in, as far as the settings say: a machine's key file keeps each sign-in's keys apart."""
    sign_in = settings.sign_in
    return (sign_in.mode, sign_in.tenant_id, sign_in.client_id, sign_in.managed_identity_client_id, sign_in.username)


@asynccontextmanager
async def open_shared_state(
    settings: Settings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    telemetry: Telemetry = NO_TELEMETRY,
) -> AsyncGenerator[SharedState, None]:
    secret = settings.shared.cursor_secret
    cursor_key = derive_cursor_key(secret.reveal()) if secret is not None else None
    if settings.shared.redis_url is None:
        run_window = RunRateLimiter(clock=clock)
        if settings.shared.state_dir is None:
            yield SharedState(IdempotencyStore(clock), run_window, cursor_key=cursor_key)
            return
        from .file_keys import FileIdempotencyKeys, key_scope

        scope = key_scope(settings.dataverse_url, identity_of(settings))
        keys = FileIdempotencyKeys(settings.shared.state_dir, scope, clock=clock)
        async with anyio.create_task_group() as background:
            background.start_soon(keys.renew_leases)
            yield SharedState(keys, run_window, cursor_key=cursor_key)
            background.cancel_scope.cancel()
        return
    from .redis_state import open_redis_state

    async with open_redis_state(settings, cursor_key=cursor_key, clock=clock, telemetry=telemetry) as state:
        yield state
