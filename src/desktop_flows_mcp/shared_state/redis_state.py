"""Redis for several replicas: the client, the key names, and what a lost connection means.

Keys live under ``dfmcp:<Dataverse host>:`` so that deployments for several environments can share one Redis
(give deployments with different identities on one environment their own database number):

    key                        type     holds                                       expires
    idem:<sha256(key)>         string   the idempotency key's record (JSON)         24 h
    idem-lock:<sha256(key)>    string   the token of the replica holding the key    10 s lease, renewed
    idem-run:<run id>          string   which key owns a run (adoption)             24 h
    runs:<connection>          zset     run starts in the last 60 s (Redis TIME)    60 s
    pause:<scope>              string   a pause after a Dataverse 429               its Retry-After
    cursor-key                 string   the cursor signing key                      never
    callback:<sha256(token)>   string   the run a callback token is bound to        as issued
    approval:<sha256(token)>   string   a confirm_token's binding and expiry (JSON)  15 min (5 min valid)
    approved-key:<sha256>      string   an idempotency key a person approved        24 h
    reads                      string   the fleet's next read slot (Redis TIME, µs)  when the slot passes
    channel wake:<run id>      pub/sub  a callback for the run arrived              -

A command that fails (refused, timed out) raises ``shared_state_unavailable`` where it guards a run start; the
pool opens a new connection on the next command, so the server recovers by itself when Redis is back.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..clock import Clock
from ..config import Settings
from ..errors import shared_state_unavailable
from ..telemetry import NO_TELEMETRY, Telemetry
from . import SharedState

if TYPE_CHECKING:
    from .redis_tokens import RedisTokens

log = logging.getLogger("desktop_flows_mcp")
TIMEOUT_SECONDS = 2.0


def client_for(url: str) -> Redis:
    """One pooled client per process; a dropped pooled connection is retried once on a fresh one."""
    return Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
        url,
        socket_connect_timeout=TIMEOUT_SECONDS,
        socket_timeout=TIMEOUT_SECONDS,
        retry=Retry(ConstantBackoff(0.05), 1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=15,
    )


def key_prefix(dataverse_url: str) -> str:
    return f"dfmcp:{urlsplit(dataverse_url).netloc.lower()}:"


def describe(error: RedisError) -> str:
    """What went wrong, without the URL (it may hold a password): the error's kind and Redis's words. Every failed
    command passes here, so here is where telemetry counts them."""
    _telemetry[0].shared_state_error()
    text = str(error).split("\n")[0][:160]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_telemetry: list[Telemetry] = [NO_TELEMETRY]  # the process's, while open_redis_state runs


@contextmanager
def fail_closed() -> Generator[None, None, None]:
    """Inside, a Redis failure becomes the retryable ``shared_state_unavailable``."""
    try:
        yield
    except RedisError as error:
        raise shared_state_unavailable(describe(error)) from None


async def probe(url: str) -> str | None:
    """Why Redis cannot serve this server (None: it can), for the start-up check."""
    try:
        client = client_for(url)
    except ValueError as error:  # an option in the URL's query redis-py cannot read
        return f"{type(error).__name__}: {str(error)[:160]}"
    try:
        return await ping(client)
    finally:
        await client.aclose()


async def ping(client: Redis) -> str | None:
    """None when Redis answers a PING, else why not (start-up, and each readiness probe)."""
    try:
        with anyio.fail_after(TIMEOUT_SECONDS * 2):
            await client.ping()  # pyright: ignore[reportUnknownMemberType]
    except RedisError as error:
        return describe(error)
    except TimeoutError:
        return "no answer within 4 seconds"
    return None


async def shared_cursor_key(redis: Redis, prefix: str) -> bytes:
    """The first replica to start writes a random key; every replica signs and checks cursors with it."""
    with fail_closed():
        await redis.set(prefix + "cursor-key", secrets.token_bytes(32), nx=True)
        key: Any = await redis.get(prefix + "cursor-key")
    if not isinstance(key, bytes) or len(key) < 32:
        raise shared_state_unavailable(f"{prefix}cursor-key holds something other than a signing key")
    return key


def _obo_tokens(settings: Settings, redis: Redis, prefix: str, clock: Clock) -> RedisTokens | None:
    key = settings.entra.token_cache_key if settings.entra is not None else None
    if key is None:
        return None
    from .redis_tokens import RedisTokens

    return RedisTokens(redis, prefix, key.reveal(), now=lambda: clock.now().timestamp())


@asynccontextmanager
async def open_redis_state(
    settings: Settings,
    *,
    cursor_key: bytes | None,
    clock: Clock,
    telemetry: Telemetry = NO_TELEMETRY,
) -> AsyncGenerator[SharedState, None]:
    from .redis_approvals import RedisApprovals
    from .redis_callbacks import RedisCallbackTokens, RedisRunWakeups
    from .redis_keys import RedisIdempotencyKeys
    from .redis_limits import RedisPauseBoard, RedisReadBudget, RedisRunWindow

    assert settings.shared.redis_url is not None
    redis = client_for(settings.shared.redis_url.reveal())
    prefix = key_prefix(settings.dataverse_url)
    _telemetry[0] = telemetry
    try:
        async with anyio.create_task_group() as background:
            keys = RedisIdempotencyKeys(redis, prefix, clock=clock)
            background.start_soon(keys.renew_leases)
            wakeups = RedisRunWakeups(redis, prefix)
            await background.start(wakeups.listen)
            yield SharedState(
                keys=keys,
                run_window=RedisRunWindow(redis, prefix, clock=clock),
                pauses=RedisPauseBoard(redis, prefix, clock=clock),
                cursor_key=cursor_key or await shared_cursor_key(redis, prefix),
                callback_tokens=RedisCallbackTokens(redis, prefix),
                wakeups=wakeups,
                read_budget=RedisReadBudget(redis, prefix, clock=clock),
                approvals=RedisApprovals(redis, prefix, clock=clock),
                store=settings.shared.redis_display or "redis",
                probe=lambda: ping(redis),
                obo_tokens=_obo_tokens(settings, redis, prefix, clock),
            )
            background.cancel_scope.cancel()
    finally:
        _telemetry[0] = NO_TELEMETRY
        with anyio.CancelScope(shield=True):
            await redis.aclose()
