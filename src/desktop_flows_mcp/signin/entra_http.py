"""The HTTP client msal uses, and the time limits on sign-in: per request, and per tool call.

msal applies its ``timeout`` only to the ``requests.Session`` it builds for itself, and ``ManagedIdentityClient``
has no timeout at all, so a stalled connection would hang the tool call (and, behind the sign-in lock, every
other one). The limits therefore live here:

    connect  10 s    a host that does not answer (a blackholed proxy, IMDS off Azure); also the TLS handshake
    read     30 s    a connection that opened and then went quiet
    budget   25 s    all sign-in work of one tool call together (``SignInBudget``): every request's limits are
                     cut to what is left of it, and the worker thread is abandoned when it runs out (a stalled
                     DNS lookup obeys no socket timeout). 25, so the whole call ends within 30 s.

One tool call may ask for a token several times (check_access probes six times), so a sign-in endpoint that
accepts the connection and never answers would otherwise cost each of them its own limits. A call that runs
out of time raises an ``OSError`` (requests' ``Timeout``, or ``SignInTimeLimit`` once the budget is spent); the
providers report every ``OSError`` as a retryable network failure.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

ENTRA_TIMEOUT: tuple[float, float] = (10.0, 30.0)
CALL_SECONDS = 25.0  # all sign-in work of one tool call


class SignInTimeLimit(TimeoutError):
    """The tool call's sign-in budget ran out before the sign-in endpoint answered."""


class SignInBudget:
    """The sign-in seconds one tool call may spend, shared by every token request in it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self.open = True  # False once the tool call ended: work it left behind gets budgets of its own

    @property
    def remaining(self) -> float:
        return self.seconds - self.spent


_budget: ContextVar[SignInBudget | None] = ContextVar("desktop_flows_mcp_sign_in_budget", default=None)
# When the sign-in work running in this context (and the worker thread it started) must end, by time.monotonic.
_deadline: ContextVar[float | None] = ContextVar("desktop_flows_mcp_sign_in_deadline", default=None)


@contextmanager
def sign_in_budget(seconds: float | None = None) -> Generator[SignInBudget]:
    """Around one tool call: every sign-in inside shares ``seconds`` (default ``CALL_SECONDS``)."""
    budget = SignInBudget(CALL_SECONDS if seconds is None else seconds)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        budget.open = False
        _budget.reset(token)


def current_budget() -> SignInBudget:
    """The tool call's budget; outside one (background work, start-up) a fresh budget for this request alone."""
    budget = _budget.get()
    return budget if budget is not None and budget.open else SignInBudget(CALL_SECONDS)


def current_deadline() -> float | None:
    return _deadline.get()


@contextmanager
def spending(budget: SignInBudget) -> Generator[float]:
    """Sign-in work charged to ``budget``: yields the seconds it may take (raises at once when none are left).

    Nested use (a token request inside a wider one) charges the outer one only.
    """
    outer = _deadline.get()
    if outer is not None:
        yield max(0.0, outer - time.monotonic())
        return
    if budget.remaining <= 0:
        raise SignInTimeLimit(f"this call's {budget.seconds:g} s for sign-in are spent")
    started = time.monotonic()
    token = _deadline.set(started + budget.remaining)
    try:
        yield budget.remaining
    finally:
        _deadline.reset(token)
        budget.spent += time.monotonic() - started


def _limited(timeout: Any) -> Any:
    """``timeout`` cut to what is left before the deadline; raises ``SignInTimeLimit`` when nothing is left."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise SignInTimeLimit("the sign-in time limit passed before this request")
    if isinstance(timeout, tuple):
        return tuple(min(float(part), left) for part in timeout)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return min(float(timeout), left)


def _send(call: Callable[..., Any], url: str, kwargs: dict[str, Any], default: tuple[float, float]) -> Any:
    given = kwargs.get("timeout")
    kwargs["timeout"] = _limited(default if given is None else given)  # an explicit None would mean no limit
    try:
        return call(url, **kwargs)
    except OSError:
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() >= deadline:
            raise SignInTimeLimit("the sign-in time limit passed during the request") from None
        raise


class TimedHttpClient:
    """A requests-like client (``get``/``post``) whose calls get ``timeout`` unless the caller set one."""

    def __init__(self, inner: Any, timeout: tuple[float, float] = ENTRA_TIMEOUT) -> None:
        self._inner = inner
        self._timeout = timeout

    def get(self, url: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return _send(self._inner.get, url, {"params": params, **kwargs}, self._timeout)

    def post(self, url: str, params: Mapping[str, Any] | None = None, data: Any = None, **kwargs: Any) -> Any:
        return _send(self._inner.post, url, {"params": params, "data": data, **kwargs}, self._timeout)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


def timed_session(timeout: tuple[float, float] = ENTRA_TIMEOUT) -> Any:
    """A ``requests.Session`` with a default timeout (Service Fabric managed identity insists on a Session)."""
    session: Any = importlib.import_module("requests").Session()
    send = session.request

    def request(method: str, url: str, **kwargs: Any) -> Any:
        def call(target: str, **rest: Any) -> Any:
            return send(method, target, **rest)

        return _send(call, url, kwargs, timeout)

    session.request = request
    return session


def msal_http_client(http_client: Any = None) -> Any:
    """What every provider hands to msal: ``http_client`` (tests' fakes) or a new Session, always time-limited."""
    return timed_session() if http_client is None else TimedHttpClient(http_client)


class InProcessEntra:
    """msal's requests-like client for an Entra served in this process (the emulator's, over an async ``transport``):
    msal runs in a worker thread, so each call is sent on the event loop that started it (``anyio.from_thread``).
    A transport failure is a ``ConnectionError`` (an ``OSError``), as the providers expect of the network."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def get(self, url: str, params: Mapping[str, Any] | None = None, headers: Any = None, **_: Any) -> Any:
        return self._send("GET", url, params=params, headers=headers)

    def post(
        self, url: str, params: Mapping[str, Any] | None = None, data: Any = None, headers: Any = None, **_: Any
    ) -> Any:
        form: Any = data
        if isinstance(data, Mapping):  # like requests: None values are dropped (msal sends claims=None)
            form = {key: value for key, value in cast(Mapping[str, Any], data).items() if value is not None}
        return self._send("POST", url, params=params, headers=headers, data=form)

    def _send(self, method: str, url: str, **options: Any) -> Any:
        import anyio.from_thread
        import httpx

        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=self._transport) as client:
                return await client.request(method, url, **{k: v for k, v in options.items() if v is not None})

        try:
            return anyio.from_thread.run(call)
        except httpx.TransportError as error:
            raise ConnectionError(f"{method} {url}: {type(error).__name__}") from None
