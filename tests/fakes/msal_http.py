"""A requests-like ``http_client`` for msal that sends every call to an in-process httpx handler.

It behaves like ``requests`` where sign-in depends on it: transport failures become requests' exceptions
(``OSError`` subclasses), and a handler that never answers (raises ``httpx.TimeoutException``) ends in requests'
``Timeout`` only when the call carried a ``timeout``; without one the call would hang forever, so the fake fails
the test instead. Every call's ``timeout`` is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import requests


def _clean(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # Like requests: None values are dropped (msal sends claims=None) and bytes are sent as text.
    if values is None:
        return None
    return {
        key: value.decode() if isinstance(value, bytes) else value for key, value in values.items() if value is not None
    }


class HungForever(AssertionError):
    """A call without a timeout reached an endpoint that never answers."""


class MsalHttpClient:
    """What msal documents in ``oauth2cli/http.py``: ``get``/``post`` returning status_code, text, headers."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self._client = httpx.Client(transport=httpx.MockTransport(handler))
        self.timeouts: list[Any] = []  # the timeout of every call, in order

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, Any] | None = None,
        timeout: Any = None,
        **_: Any,
    ) -> httpx.Response:
        if isinstance(data, Mapping):
            return self._send(
                "POST",
                url,
                timeout,
                params=_clean(params),
                data=_clean(data),  # pyright: ignore[reportUnknownArgumentType]
                headers=_clean(headers),
            )
        return self._send("POST", url, timeout, params=_clean(params), content=data, headers=_clean(headers))

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        timeout: Any = None,
        **_: Any,
    ) -> httpx.Response:
        return self._send("GET", url, timeout, params=_clean(params), headers=_clean(headers))

    def _send(self, method: str, url: str, timeout: Any, **kwargs: Any) -> httpx.Response:
        self.timeouts.append(timeout)
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            if timeout is None:
                raise HungForever(f"{method} {url} had no timeout and the endpoint never answers") from exc
            raise requests.exceptions.ReadTimeout(f"{method} {url} timed out after {timeout}") from exc
        except httpx.TransportError as exc:
            raise requests.exceptions.ConnectionError(f"{method} {url}: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._client.close()
