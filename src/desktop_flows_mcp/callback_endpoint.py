"""``POST /callbacks/<token>``: Dataverse reports that a run ended. Nothing in the request is trusted.

The token only names a run this deployment started, and who started it (``run_callbacks``); the run is then
re-read from Dataverse (the source of truth) for that person, in the background, and only that person's waits wake
up, only if that read says it has ended. Dataverse sends no credentials, retries
three times one second apart on 408 and 5xx, and expects an idempotent receiver.

| answer | when                                                                                         |
|--------|----------------------------------------------------------------------------------------------|
| 202    | a live token; the run is re-read (one read at a time per run), waits wake if it has ended    |
| 404    | an unknown, spent or expired token: nothing changes                                          |
| 405    | any method but POST                                                                          |
| 408    | the body did not arrive within a second (Dataverse retries)                                  |
| 413    | a body over 16 KB                                                                            |
| 429    | more than ``TOKEN_LIMIT`` callbacks for one token within ``TOKEN_WINDOW`` seconds            |
| 429    | more than ``UNKNOWN_LIMIT`` unknown tokens from one source within ``UNKNOWN_WINDOW`` seconds: |
|        | its further unknown tokens until the window passes (``Retry-After``); a live one is served   |
| 503    | more than ``OVERALL_LIMIT`` live callbacks a second in all (``Retry-After: 1``; Dataverse     |
|        | retries)                                                                                     |
| 503    | the token store failed (Redis down) or gave no answer within ``STORE_SECONDS`` (Redis paused): |
|        | ``Retry-After: 1``, Dataverse retries; nothing changes                                       |

The token is looked up first, always (a dict look-up in process, one GET on Redis), so junk never spends the overall
limit that Dataverse's real callbacks need, and a real callback is served even from an address that also floods
(behind one proxy, every caller shares it). A source is the client address uvicorn reports (behind a local proxy,
the forwarded one), an IPv6 address counted by its /64.

One log line per live callback, without the body and with only the token's first characters; unknown tokens are
counted into one summary line at most every ``UNKNOWN_SUMMARY_SECONDS`` (counts and the busiest sources), and live
callbacks refused by the overall limit into one line a second.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .bounds import MAX_MESSAGE_DEPTH, json_too_deep
from .call_scope import SHARED, acting_for, owned, split_owned
from .clock import SYSTEM_CLOCK, Clock
from .errors import DesktopFlowsError
from .models import FlowRun, Row, claimed_run_id
from .run_callbacks import CallbackTokens, RunWakeups

MAX_BODY = 16 * 1024
BODY_SECONDS = 1.0
STORE_SECONDS = 2.0  # the token lookup; longer, and the store is stalled (Redis paused): 503, Dataverse retries
TOKEN_LIMIT, TOKEN_WINDOW = 6, 60.0  # Dataverse sends one callback and at most three retries
OVERALL_LIMIT = 50  # a second
UNKNOWN_LIMIT, UNKNOWN_WINDOW = 20, 60.0  # unknown tokens from one source: more is junk, not Dataverse
UNKNOWN_SUMMARY_SECONDS = 10.0
MAX_SOURCES = 10_000  # sources remembered; beyond it the quiet ones are forgotten
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
log = logging.getLogger("desktop_flows_mcp.audit")  # recorded at any log level, like run starts

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], object]


class CallbackReceiver:
    """The endpoint's logic; ``read_run`` is RunService.get_run, ``spawn`` starts a background task."""

    def __init__(
        self,
        tokens: CallbackTokens,
        wakeups: RunWakeups,
        read_run: Callable[[str], Awaitable[FlowRun]],
        spawn: Spawn,
        *,
        clock: Clock = SYSTEM_CLOCK,
        body_seconds: float = BODY_SECONDS,
        store_seconds: float = STORE_SECONDS,
    ) -> None:
        self._tokens = tokens
        self._wakeups = wakeups
        self._read_run = read_run
        self._spawn = spawn
        self._clock = clock.monotonic
        self._body_seconds = body_seconds
        self._store_seconds = store_seconds
        self._recent: deque[float] = deque()  # when the callbacks of the last second arrived
        self._per_token: dict[str, deque[float]] = {}
        self._checking: set[str] = set()  # runs being re-read now
        self._refused_busy = 0
        self._busy_logged_at = float("-inf")
        self._unknown_by_source: dict[str, deque[float]] = {}
        self._unknown = _UnknownSummary(clock.monotonic)

    async def handle(self, request: Request) -> Response:
        token = request.url.path.rsplit("/", 1)[-1]
        shown = token[:4] + "…"
        bound = None
        if _TOKEN_SHAPE.match(token):
            try:
                with anyio.fail_after(self._store_seconds):
                    bound = await self._tokens.run_for(token)
            except TimeoutError:  # a stalled store (Redis paused): Dataverse retries a 503, a 408 would blame its body
                log.warning(
                    "callback token=%s not resolved: the token store did not answer within %g s (503)",
                    shown,
                    self._store_seconds,
                )
                return _answer(503, "unavailable", {"Retry-After": "1"})
            except Exception as error:  # never a 500: Dataverse retries a 5xx, and the waits go on polling meanwhile
                reason = error.code.value if isinstance(error, DesktopFlowsError) else type(error).__name__
                log.warning("callback token=%s not resolved: the token store failed (%s) (503)", shown, reason)
                return _answer(503, "unavailable", {"Retry-After": "1"})
        if bound is None:  # unknown, spent, expired, or not a token this server issues
            if self._unknown_again(_source(request)):
                return _answer(429, "rate_limited", {"Retry-After": str(int(UNKNOWN_WINDOW))})
            return _answer(404, "unknown")
        if not self._allowed_overall():
            return _answer(503, "busy", {"Retry-After": "1"})
        body: bytes | None = b""
        with anyio.move_on_after(self._body_seconds) as arriving:
            body = await _read_capped(request)
        if arriving.cancelled_caught:
            log.warning(
                "callback token=%s refused: the body did not arrive within %gs (408)", shown, self._body_seconds
            )
            return _answer(408, "timeout")
        if body is None:
            log.warning("callback token=%s refused: body over %d bytes (413)", shown, MAX_BODY)
            return _answer(413, "too_large")
        return await self._receive(token, shown, bound, body)

    def _unknown_again(self, source: str) -> bool:
        """Count an unknown token from ``source``; True once that source is over its limit."""
        now = self._clock()
        if source not in self._unknown_by_source and len(self._unknown_by_source) >= MAX_SOURCES:
            quiet = [
                s for s, times in self._unknown_by_source.items() if not times or times[-1] <= now - UNKNOWN_WINDOW
            ]
            for gone in quiet or list(self._unknown_by_source)[: MAX_SOURCES // 10]:
                del self._unknown_by_source[gone]
        times = self._unknown_by_source.setdefault(source, deque())
        while times and times[0] <= now - UNKNOWN_WINDOW:
            times.popleft()
        limited = len(times) >= UNKNOWN_LIMIT
        if not limited:
            times.append(now)
        self._unknown.count(source, limited=limited)
        return limited

    async def _receive(self, token: str, shown: str, bound: str, body: bytes) -> Response:
        owner, run_id = split_owned(bound)
        if not self._allowed_for(token):
            log.warning("callback token=%s run_id=%s refused: too many for one token (429)", shown, run_id)
            return _answer(429, "rate_limited")
        note = _body_note(body, run_id)
        if run_id in self._checking:
            log.info("callback token=%s run_id=%s accepted: the run is being re-read already%s", shown, run_id, note)
        else:
            self._checking.add(run_id)
            self._spawn(lambda: self._check_for(owner, token, shown, run_id, note))
        return _answer(202, "accepted")

    async def _check_for(self, owner: str, token: str, shown: str, run_id: str, note: str) -> None:
        """``_check`` as the run's starter: their view of the run, their waits, their name on the audit lines."""
        if owner == SHARED:
            await self._check(token, shown, run_id, note)
            return
        with acting_for(owner, "callback"):
            await self._check(token, shown, run_id, note)

    async def _check(self, token: str, shown: str, run_id: str, note: str) -> None:
        """Re-read the run; wake its waits only if Dataverse says it has ended."""
        try:
            run = await self._read_run(run_id)
            if not run.is_terminal:
                log.warning(
                    "callback token=%s run_id=%s: the run is still %s; nothing woken%s", shown, run_id, run.status, note
                )
                return
            await self._tokens.drop(token)
            await self._wakeups.publish(owned(run_id))
            log.info("callback token=%s run_id=%s: run %s, waits woken%s", shown, run_id, run.status, note)
        except Exception as error:  # the waits go on polling; a background task must never take the server down
            log.warning("callback token=%s run_id=%s: re-reading the run failed (%s)", shown, run_id, error)
        finally:
            self._checking.discard(run_id)

    def _allowed_overall(self) -> bool:
        now = self._clock()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) < OVERALL_LIMIT:
            self._recent.append(now)
            return True
        self._refused_busy += 1
        if now - self._busy_logged_at >= 1.0:
            log.warning("callbacks refused: %d over %d a second (503)", self._refused_busy, OVERALL_LIMIT)
            self._refused_busy, self._busy_logged_at = 0, now
        return False

    def _allowed_for(self, token: str) -> bool:
        now = self._clock()
        if len(self._per_token) > 10_000:  # only live tokens get here; forget the quiet ones
            for quiet in [t for t, times in self._per_token.items() if not times or times[-1] <= now - TOKEN_WINDOW]:
                del self._per_token[quiet]
        times = self._per_token.setdefault(token, deque())
        while times and times[0] <= now - TOKEN_WINDOW:
            times.popleft()
        if len(times) >= TOKEN_LIMIT:
            return False
        times.append(now)
        return True

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as a bare ASGI app (the embedded emulator delivers its callbacks through it)."""
        if scope["type"] != "http" or scope["method"] != "POST":
            await _answer(405, "method_not_allowed")(scope, receive, send)
            return
        await (await self.handle(Request(scope, receive)))(scope, receive, send)


class _UnknownSummary:
    """Callbacks with unknown tokens, counted into one log line at most every ``UNKNOWN_SUMMARY_SECONDS``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._by_source: Counter[str] = Counter()
        self._limited = 0
        self._logged_at = float("-inf")

    def count(self, source: str, *, limited: bool) -> None:
        if len(self._by_source) < MAX_SOURCES or source in self._by_source:
            self._by_source[source] += 1
        self._limited += limited
        now = self._clock()
        if now - self._logged_at < UNKNOWN_SUMMARY_SECONDS:
            return
        total = sum(self._by_source.values())
        busiest = ", ".join(f"{where} ({count})" for where, count in self._by_source.most_common(3))
        log.warning(
            "callbacks refused: %d with an unknown token from %d source(s) since the last summary, %d of them over "
            "%d a source per %gs (429); most from %s",
            total,
            len(self._by_source),
            self._limited,
            UNKNOWN_LIMIT,
            UNKNOWN_WINDOW,
            busiest,
        )
        self._by_source.clear()
        self._limited, self._logged_at = 0, now


def _source(request: Request) -> str:
    """Who sent it: the client's address, an IPv6 one by its /64 (one host can hold a whole /64)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64] or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None once it is over ``MAX_BODY`` (by its Content-Length or as it streams)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _body_note(body: bytes, run_id: str) -> str:
    """Read leniently, never trusted: only says whether the body names another run (worth a look in the log)."""
    if json_too_deep(body, MAX_MESSAGE_DEPTH):
        return ""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return ""
    claimed = claimed_run_id(cast(Row, parsed)) if isinstance(parsed, dict) else None
    if isinstance(claimed, str) and claimed.strip().lower() != run_id.lower():
        return " (its body names another run)"
    return ""


def _answer(status: int, outcome: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"status": outcome}, status_code=status, headers=headers)
