"""Reading one cell of a row, leniently: a value of the wrong type reads as missing (the caller decides the default).

Only this package reads rows; the parsers beside it use these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast


def text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    return value if isinstance(value, str) and value else None


def number(row: Mapping[str, Any], column: str) -> int | None:
    value = row.get(column)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def nested(row: Mapping[str, Any], navigation: str) -> dict[str, Any] | None:
    """An expanded single-valued navigation property (the related row), or None when not expanded or empty."""
    value = row.get(navigation)
    return cast(dict[str, Any], value) if isinstance(value, dict) else None
