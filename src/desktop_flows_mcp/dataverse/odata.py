"""Building OData query text safely: literals, GUIDs and paths that nothing an agent types can change."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from ..errors import invalid_argument

_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")
_CANONICAL_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_guid(text: str) -> bool:
    return bool(_GUID.match(text.strip()))


def parse_guid(text: str, *, argument: str) -> str:
    """The canonical lower-case GUID, or invalid_argument naming the argument."""
    if _CANONICAL_GUID.fullmatch(text):  # as uuid.UUID prints it: nothing to parse
        return text
    if not is_guid(text):
        raise invalid_argument(
            f"{argument} must be a GUID like 'd9687093-d0c0-ec11-983e-0022480b428a' (got {text[:80]!r}).",
            hint="Use the id returned by list_desktop_flows, run_desktop_flow or list_desktop_flow_runs.",
        )
    return str(uuid.UUID(text.strip().strip("{}")))


def string_literal(value: str) -> str:
    """An OData string literal for ``eq``: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def like_literal(value: str) -> str:
    """An OData string literal for contains/startswith/endswith, where Dataverse treats ``% _ [`` as
    T-SQL LIKE wildcards; each is bracket-escaped so it matches literally."""
    escaped = "".join(f"[{ch}]" if ch in "%_[" else ch for ch in value)
    return string_literal(escaped)


def odata_datetime(moment: datetime) -> str:
    """A datetime literal for $filter, in UTC to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
