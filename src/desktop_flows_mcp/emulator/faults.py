"""Fault injection for tests: the next N matching requests get a chosen failure instead.

A rule matches an HTTP method (or any) and a regular expression searched in the request path.
It can answer with a status and Dataverse error body, a truncated JSON body, an HTML gateway page,
or drop the connection; it can also only delay the request (``status=None``).

On a run start, ``creates_run_after`` makes the failure a lie, the way a loaded environment tells one: the run is
created all the same, ``creates_run_after`` seconds (on the emulator's clock) after the request arrived, whatever
was answered meanwhile (after ``delay``); 0 creates it before answering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import error_body

BodyKind = Literal["dataverse", "malformed_json", "html", "drop"]
BODY_KINDS: tuple[BodyKind, ...] = ("dataverse", "malformed_json", "html", "drop")


@dataclass
class Fault:
    path: str = ".*"
    method: str | None = None
    times: int = 1
    status: int | None = 503
    code: str = "0x80040216"
    message: str = "An unexpected error occurred."
    retry_after: int | None = None
    delay: float = 0.0
    body: BodyKind = "dataverse"
    creates_run_after: float | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and re.search(self.path, path) is not None

    def content(self) -> tuple[bytes, str]:
        if self.body == "malformed_json":
            return error_body(self.code, self.message)[:-7], "application/json; charset=utf-8"
        if self.body == "html":
            title = f"{self.status} Gateway error"
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return page.encode(), "text/html"
        return error_body(self.code, self.message), "application/json; charset=utf-8"


class FaultsDisabledError(RuntimeError):
    """Raised when arming a fault on an emulator created without ``test_api=True``."""


class Faults:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.rules: list[Fault] = []

    def add(
        self,
        path: str = ".*",
        *,
        method: str | None = None,
        times: int = 1,
        status: int | None = 503,
        code: str = "0x80040216",
        message: str = "An unexpected error occurred.",
        retry_after: int | None = None,
        delay: float = 0.0,
        body: BodyKind = "dataverse",
        creates_run_after: float | None = None,
    ) -> Fault:
        """Arm a rule for the next ``times`` requests whose path matches the ``path`` regex."""
        if not self.enabled:
            raise FaultsDisabledError("Fault injection needs an emulator created with test_api=True.")
        if body not in BODY_KINDS:
            raise ValueError(f"body must be one of {BODY_KINDS}")
        if creates_run_after is not None and (status is None or creates_run_after < 0):
            raise ValueError("creates_run_after needs a failure to answer (a status) and a non-negative delay")
        re.compile(path)
        fault = Fault(path, method, times, status, code, message, retry_after, delay, body, creates_run_after)
        self.rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed rule matching this request, consuming one of its uses."""
        for fault in self.rules:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.rules.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.rules.clear()
