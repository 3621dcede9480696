"""The HTTP client msal uses, with a time limit on every call to Entra ID and to the managed-identity endpoint.

msal applies its ``timeout`` only to the ``requests.Session`` it builds for itself, and ``ManagedIdentityClient``
has no timeout at all, so a stalled connection would hang the tool call (and, behind the sign-in lock, every
other one). The limit therefore lives on the client handed to msal:

    connect  10 s    a host that does not answer (a blackholed proxy, IMDS off Azure)
    read     30 s    a connection that opened and then went quiet

A call that runs out of time raises requests' ``Timeout``, an ``OSError``; the providers report every
``OSError`` as a retryable network failure.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

ENTRA_TIMEOUT: tuple[float, float] = (10.0, 30.0)


class TimedHttpClient:
    """A requests-like client (``get``/``post``) whose calls get ``timeout`` unless the caller set one."""

    def __init__(self, inner: Any, timeout: tuple[float, float] = ENTRA_TIMEOUT) -> None:
        self._inner = inner
        self._timeout = timeout

    def get(self, url: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return self._inner.get(url, params=params, **kwargs)

    def post(self, url: str, params: Mapping[str, Any] | None = None, data: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return self._inner.post(url, params=params, data=data, **kwargs)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


def timed_session(timeout: tuple[float, float] = ENTRA_TIMEOUT) -> Any:
    """A ``requests.Session`` with a default timeout (Service Fabric managed identity insists on a Session)."""
    session: Any = importlib.import_module("requests").Session()
    send = session.request

    def request(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        return send(method, url, **kwargs)

    session.request = request
    return session


def msal_http_client(http_client: Any = None) -> Any:
    """What every provider hands to msal: ``http_client`` (tests' fakes) or a new Session, always time-limited."""
    return timed_session() if http_client is None else TimedHttpClient(http_client)
