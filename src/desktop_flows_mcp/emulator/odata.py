"""OData query options on collections: ``$select``, ``$orderby``, ``$top``, paging and context URLs.

``$expand`` is parsed and applied by ``expand``; a single record accepts only ``$select`` and ``$expand``.

Paging follows the Dataverse docs: ``Prefer: odata.maxpagesize=N`` pages the result, the response
says ``Preference-Applied`` and carries an opaque absolute ``@odata.nextLink`` with ``$skiptoken``;
``$top`` is ignored when a page size is requested, and ``$skip`` is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from .errors import bad_query, unknown_property
from .odata_filter import Predicate, Row, parse_filter
from .tables import ColumnType, Table

SERVICE_PATH = "/api/data/v9.2/"
MAX_PAGE_SIZE = 5000
_SUPPORTED = {"$filter", "$select", "$orderby", "$top", "$skiptoken", "$count", "$expand"}
_SINGLE_RECORD = {"$select", "$expand"}
_SKIPTOKEN = re.compile(r'<cookie pagenumber="(\d+)" offset="(\d+)" />')
_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")


@dataclass(frozen=True)
class Query:
    filter: Predicate | None = None
    select: tuple[str, ...] = ()
    orderby: tuple[tuple[str, bool], ...] = ()  # (column, descending)
    top: int | None = None
    offset: int = 0
    page_number: int = 1
    count: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, object]]
    next_offset: int | None
    total: int


def parse_select(text: str | None, table: Table) -> tuple[str, ...]:
    if text is None:
        return ()
    columns = tuple(part.strip() for part in text.split(","))
    for column in columns:
        if column not in table.columns:
            raise unknown_property(column, table.logical_name)
    return columns


def parse_query(params: Mapping[str, str], table: Table, *, collection: bool = True) -> Query:
    """Validate the query options of a request against ``table``."""
    for name in params:
        if name.startswith("$") and (name not in _SUPPORTED or (not collection and name not in _SINGLE_RECORD)):
            raise bad_query(f"The query parameter {name} is not supported.")
    predicate = parse_filter(params["$filter"], table) if "$filter" in params else None
    offset, page_number = _parse_skiptoken(params.get("$skiptoken"))
    return Query(
        filter=predicate,
        select=parse_select(params.get("$select"), table),
        orderby=parse_orderby(params.get("$orderby"), table),
        top=parse_top(params.get("$top")),
        offset=offset,
        page_number=page_number,
        count=params.get("$count", "false").lower() == "true",
    )


def parse_orderby(text: str | None, table: Table) -> tuple[tuple[str, bool], ...]:
    if text is None:
        return ()
    keys: list[tuple[str, bool]] = []
    for item in text.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise bad_query(f"Syntax error in $orderby '{text}'.")
        if words[0] not in table.columns:
            raise unknown_property(words[0], table.logical_name)
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return tuple(keys)


def parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise bad_query(f"Invalid value '{text}' for $top query option found.")
    return int(text)


def _parse_skiptoken(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    match = _SKIPTOKEN.fullmatch(text)
    if match is None:
        raise bad_query("The $skiptoken value is invalid. Use the @odata.nextLink returned by the service.")
    return int(match.group(2)), int(match.group(1))


def page_size(prefer: str | None) -> int | None:
    match = _PAGE_SIZE.search(prefer or "")
    return min(int(match.group(1)), MAX_PAGE_SIZE) if match and int(match.group(1)) > 0 else None


def _sort_key(column_type: ColumnType, value: object) -> tuple[bool, object]:
    if value is None:
        return (False, "")
    if isinstance(value, str) and column_type is not ColumnType.DATETIME:
        return (True, value.casefold())
    return (True, value)


def run_query(rows: Sequence[Row], query: Query, table: Table, size: int | None) -> Page:
    """Filter, order and page ``rows``; SQL order: nulls first, ties broken by primary key."""
    selected = [dict(row) for row in rows if query.filter is None or query.filter(row)]
    selected.sort(key=lambda row: str(row[table.key]))
    for column, descending in reversed(query.orderby):
        column_type = table.columns[column]
        selected.sort(key=lambda row: _sort_key(column_type, row.get(column)), reverse=descending)
    total = len(selected)
    if size is None:
        limit = query.top if query.top is not None else MAX_PAGE_SIZE
        return Page(selected[:limit], None, total)
    end = query.offset + size
    return Page(selected[query.offset : end], end if end < total else None, total)


def project(row: Row, select: Sequence[str], table: Table) -> dict[str, object]:
    """The JSON object of one row: etag first, then the selected columns (the key is always there)."""
    columns = [column for column in table.columns if not select or column in select or column == table.key]
    return {"@odata.etag": f'W/"{row["versionnumber"]}"', **{column: row.get(column) for column in columns}}


def context_url(
    base: str, table: Table, select: Sequence[str], *, entity: bool = False, expanded: Sequence[str] = ()
) -> str:
    """``$metadata#set(columns,Nav(columns))``; ``expanded`` are the ``Nav(...)`` parts of ``$expand``."""
    parts = [*select, *expanded]
    shape = f"{table.entity_set}({','.join(parts)})" if parts else table.entity_set
    return f"{base}{SERVICE_PATH}$metadata#{shape}{'/$entity' if entity else ''}"


def next_link(base: str, path: str, params: Mapping[str, str], query: Query, offset: int) -> str:
    kept = [(name, value) for name, value in params.items() if name != "$skiptoken"]
    token = f'<cookie pagenumber="{query.page_number + 1}" offset="{offset}" />'
    return f"{base}{path}?{urlencode([*kept, ('$skiptoken', token)], quote_via=quote, safe='$,()')}"
