"""Text from Dataverse or a flow: capped and scrubbed before an agent or a log sees it."""

from __future__ import annotations

import re

MAX_TEXT = 2048
_CREDENTIAL = re.compile(
    # An Authorization header value; a plain word of up to 15 letters after "bearer" is prose ("bearer token").
    r"(?i)(bearer\s+)(?![a-z]{1,15}(?![a-z0-9\-._~+/=]))[A-Za-z0-9\-._~+/]+=*"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # a JWT anywhere
    r"|((?:client_secret|password|pwd|secret|access_token|refresh_token|sig|accountkey|sharedaccesskey)\s*[=:]\s*)"
    r"[^\s&,;\"']+"
)


def scrub(text: str) -> str:
    """Replace anything that looks like a bearer token, a JWT or a secret parameter with [redacted]."""
    return _CREDENTIAL.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)


def cap(text: str, limit: int = MAX_TEXT) -> str:
    """At most ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 20].rstrip() + " ...[cut, too long]"
