"""``POST /callbacks/<token>``: Dataverse reports that a run ended. Nothing in the request is trusted.

The token only names a run this deployment started; the run is then re-read from Dataverse (the source of truth),
in the background, and waits wake up only if that read says it has ended. Dataverse sends no credentials, retries
three times one second apart on 408 and 5xx, and expects an idempotent receiver.

| answer | when                                                                                         |
|--------|----------------------------------------------------------------------------------------------|
| 202    | a live token; the run is re-read (one read at a time per run), waits wake if it has ended    |
| 404    | an unknown, spent or expired token: nothing changes                                          |
| 405    | any method but POST                                                                          |
| 408    | the body did not arrive within a second (Dataverse retries)                                  |
| 413    | a body over 16 KB                                                                            |
| 429    | more than ``TOKEN_LIMIT`` callbacks for one token within ``TOKEN_WINDOW`` seconds            |
| 503    | more than ``OVERALL_LIMIT`` callbacks a second in all (``Retry-After: 1``; Dataverse retries) |
| 503    | the token store failed (Redis down) or gave no answer within ``STORE_SECONDS`` (Redis paused): |
|        | ``Retry-After: 1``, Dataverse retries; nothing changes                                       |

One log line per callback, without the body and with only the token's first characters; callbacks refused by the
overall limit are counted into one line a second instead.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .errors import DesktopFlowsError
from .models import FlowRun
from .run_callbacks import CallbackTokens, RunWakeups

MAX_BODY = 16 * 1024
BODY_SECONDS = 1.0
STORE_SECONDS = 2.0  # the token lookup; longer, and the store is stalled (Redis paused): 503, Dataverse retries
TOKEN_LIMIT, TOKEN_WINDOW = 6, 60.0  # Dataverse sends one callback and at most three retries
OVERALL_LIMIT = 50  # a second
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
        clock: Callable[[], float] = time.monotonic,
        body_seconds: float = BODY_SECONDS,
        store_seconds: float = STORE_SECONDS,
    ) -> None:
        self._tokens = tokens
        self._wakeups = wakeups
        self._read_run = read_run
        self._spawn = spawn
        self._clock = clock
        self._body_seconds = body_seconds
        self._store_seconds = store_seconds
        self._recent: deque[float] = deque()  # when the callbacks of the last second arrived
        self._per_token: dict[str, deque[float]] = {}
        self._checking: set[str] = set()  # runs being re-read now
        self._refused_busy = 0
        self._busy_logged_at = float("-inf")

    async def handle(self, request: Request) -> Response:
        token = request.url.path.rsplit("/", 1)[-1]
        shown = token[:4] + "…"
        if not self._allowed_overall():
            return _answer(503, "busy", {"Retry-After": "1"})
        if not _TOKEN_SHAPE.match(token):
            log.warning("callback token=%s refused: not a token this server issues (404)", shown)
            return _answer(404, "unknown")
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
        return await self._receive(token, shown, body)

    async def _receive(self, token: str, shown: str, body: bytes) -> Response:
        try:
            with anyio.fail_after(self._store_seconds):
                run_id = await self._tokens.run_for(token)
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
        if run_id is None:
            log.warning("callback token=%s refused: unknown, spent or expired token (404)", shown)
            return _answer(404, "unknown")
        if not self._allowed_for(token):
            log.warning("callback token=%s run_id=%s refused: too many for one token (429)", shown, run_id)
            return _answer(429, "rate_limited")
        note = _body_note(body, run_id)
        if run_id in self._checking:
            log.info("callback token=%s run_id=%s accepted: the run is being re-read already%s", shown, run_id, note)
        else:
            self._checking.add(run_id)
            self._spawn(lambda: self._check(token, shown, run_id, note))
        return _answer(202, "accepted")

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
            await self._wakeups.publish(run_id)
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
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    claimed = cast(dict[str, object], parsed).get("flowsessionid") if isinstance(parsed, dict) else None
    if isinstance(claimed, str) and claimed.strip().lower() != run_id.lower():
        return " (its body names another run)"
    return ""


def _answer(status: int, outcome: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"status": outcome}, status_code=status, headers=headers)
