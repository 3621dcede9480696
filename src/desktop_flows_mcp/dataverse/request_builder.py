"""The ``httpx.Request`` of a Dataverse call, as ``httpx.AsyncClient.build_request`` builds it, with its parsing done
once: a read of one run costs about 50 µs in ``build_request`` (``httpx.URL(str)`` parses the whole URL, and the
client's headers are merged with the call's), about 10 µs here.

The request is the same to the byte (method, URL, every header, cookies, body, timeout); ``AsyncClient.send`` then
does the rest as before (auth, the transport its mounts choose, proxies from the environment). A URL is parsed once
per distinct text (bounded), and a header set merged once per distinct set and client headers. Anything this does
not build exactly as httpx would (query ``params`` on a URL that has a query already) goes to ``build_request``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import httpx

MAX_URLS = 512  # distinct URL texts kept parsed: a poll of a run repeats one URL; a run id is a new one
MAX_HEADER_SETS = 64  # distinct header sets: a few, times the page sizes asked for


class RequestBuilder:
    """``build`` makes what ``http.build_request(method, url, headers=headers, json=json)`` would."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._merged: dict[tuple[tuple[tuple[str, str], ...], tuple[tuple[bytes, bytes], ...]], httpx.Headers] = {}

    def build(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Request:
        http = self._http
        if params is not None:
            return http.build_request(method, url, params=params, headers=headers, json=json)
        cookies = http.cookies
        return httpx.Request(
            method,
            parsed_url(url),
            headers=self._merged_headers(headers),
            cookies=cookies if cookies else None,  # build_request passes the client's cookies only when it has any
            json=json,
            extensions={"timeout": http.timeout.as_dict()},
        )

    def _merged_headers(self, headers: Mapping[str, str]) -> httpx.Headers:
        """The client's headers updated with the call's; ``httpx.Request`` copies them, so one object serves all."""
        key = (tuple(headers.items()), tuple(self._http.headers.raw))  # the client's may change: they are the key
        merged = self._merged.get(key)
        if merged is None:
            if len(self._merged) >= MAX_HEADER_SETS:
                self._merged.clear()
            merged = httpx.Headers(self._http.headers)
            merged.update(headers)
            self._merged[key] = merged
        return merged


@functools.lru_cache(maxsize=MAX_URLS)
def parsed_url(url: str) -> httpx.URL:
    """``httpx.URL(url)``, parsed once per distinct text. ``httpx.Request`` copies it, so sharing it is safe."""
    return httpx.URL(url)
