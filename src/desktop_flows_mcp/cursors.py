"""Opaque, signed paging cursors.

A cursor wraps Dataverse's ``@odata.nextLink`` (already cut down to a path below our own API root) and the
page size it was made with. It is signed with a per-process key (shared by the replicas when Redis or
DESKTOP_FLOWS_CURSOR_SECRET is configured, see ``shared_state``), so an edited cursor cannot change the
query (say, drop ``category eq 6``), and it never holds a host: the next request always goes to
DATAVERSE_URL with our own token. A cursor from before a restart is refused with a clear message.

A cursor is its caller's (``call_scope.current_owner``): one made for a person carries a digest of who, inside the
signed part, and another caller's call refuses it. Cursors of a single-identity server carry none, as before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from .call_scope import SHARED, current_owner
from .errors import cursor_of_another_caller, invalid_argument


@dataclass(frozen=True)
class PageToken:
    next_link: str
    page_size: int
    extra: str = ""  # e.g. "drafts" for a flows list that included drafts


def refuse_other_arguments(made_for: Mapping[str, object], given: Mapping[str, object]) -> None:
    """A cursor continues the list it was made for: an argument given with it must be the one it was made with."""
    for name, value in given.items():
        if value is not None and value != made_for.get(name):
            raise invalid_argument(
                f"The cursor belongs to a list with {name}={made_for.get(name)!r}, not {name}={value!r}.",
                hint="Pass the cursor with the arguments of the first page (or none), or start over without it.",
            )


def derive_cursor_key(secret: str) -> bytes:
    """The signing key from DESKTOP_FLOWS_CURSOR_SECRET: every replica with the secret reads every cursor."""
    return hmac.new(secret.encode(), b"desktop-flows-mcp cursor signing key v1", hashlib.sha256).digest()


class CursorCodec:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def seal(self, owner: str, text: str) -> str:
        """24 hex characters that only this key makes for ``text`` and ``owner``: an id made for one person."""
        return hmac.new(self._key, f"desktop-flows-mcp owned\0{owner}\0{text}".encode(), hashlib.sha256).hexdigest()[
            :24
        ]

    def encode(self, kind: str, token: PageToken) -> str:
        fields: list[object] = [kind, token.next_link, token.page_size, token.extra]
        if (owner := _owner_tag()) != SHARED:
            fields.append(owner)
        payload = json.dumps(fields, separators=(",", ":")).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def decode(self, kind: str, cursor: str, *, tool: str) -> PageToken:
        problem = invalid_argument(
            "The cursor is not valid for this list (edited, from another list, or from before a server restart).",
            hint=f"Call {tool} again without a cursor to start from the first page.",
        )
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError):
            raise problem from None
        mac, payload = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()[:16]):
            raise problem
        try:
            found_kind, next_link, page_size, extra, *owner = json.loads(payload)
        except ValueError:
            raise problem from None
        if found_kind != kind:
            raise problem
        if (owner[0] if owner else SHARED) != _owner_tag():
            raise cursor_of_another_caller(tool)
        return PageToken(next_link=str(next_link), page_size=int(page_size), extra=str(extra))


def _owner_tag() -> str:
    """Who the call in progress is, as a cursor keeps it: a digest, so a cursor names no one."""
    owner = current_owner()
    return SHARED if owner == SHARED else hashlib.sha256(owner.encode()).hexdigest()[:16]
