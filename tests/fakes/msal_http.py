"""A requests-like ``http_client`` for msal that sends every call to an in-process httpx handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx


def _clean(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # Like requests: None values are dropped (msal sends claims=None) and bytes are sent as text.
    if values is None:
        return None
    return {
        key: value.decode() if isinstance(value, bytes) else value for key, value in values.items() if value is not None
    }


class MsalHttpClient:
    """What msal documents in ``oauth2cli/http.py``: ``get``/``post`` returning status_code, text, headers."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self._client = httpx.Client(transport=httpx.MockTransport(handler))

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> httpx.Response:
        if isinstance(data, Mapping):
            return self._client.post(url, params=_clean(params), data=_clean(data), headers=_clean(headers))  # pyright: ignore[reportUnknownArgumentType]
        return self._client.post(url, params=_clean(params), content=data, headers=_clean(headers))

    def get(
        self, url: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None, **_: Any
    ) -> httpx.Response:
        return self._client.get(url, params=_clean(params), headers=_clean(headers))

    def close(self) -> None:
        self._client.close()
