"""Reads of machines, machine groups, flow logs and the organization, and navigation-property paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from .fleet import find
from .handlers import Call, list_rows, one_row
from .machine_tables import FLOWLOG, FLOWMACHINE, FLOWMACHINEGROUP, ORGANIZATION, TABLES
from .odata_filter import Row
from .runs import flowsession_row
from .tables import FLOWSESSION, Navigation, Table

Handler = Callable[[Call], Response | Awaitable[Response]]
COLLECTIONS = {table.entity_set: table for table in (FLOWMACHINE, FLOWMACHINEGROUP, FLOWLOG, ORGANIZATION)}


def list_set(table: Table) -> Handler:
    return lambda call: list_rows(call, table, call.store.rows(table.entity_set, call.principal, call.now))


def get_record(table: Table, record_id: str) -> Handler:
    return lambda call: one_row(call, table, record(call, table, record_id))


def record(call: Call, table: Table, record_id: str) -> Row:
    """One row the caller may read: 403 without the table's read privilege, 404 when absent or not visible."""
    if table is FLOWSESSION:
        return flowsession_row(call.store.run(record_id, call.principal), call.now)
    rows = call.store.rows(table.entity_set, call.principal, call.now)
    return find(rows, table.key, record_id, table.logical_name)


def navigate(table: Table, record_id: str, navigation: Navigation) -> Handler:
    """``set(id)/Navigation``: the related collection, or the related row (204 when the lookup is empty)."""

    def handle(call: Call) -> Response:
        row = record(call, table, record_id)
        target = TABLES[navigation.target]
        related = call.store.rows(target.entity_set, call.principal, call.now)
        if navigation.collection:
            return list_rows(call, target, [other for other in related if other.get(navigation.column) == record_id])
        reference = row.get(navigation.column)
        found = next((other for other in related if reference is not None and other[target.key] == reference), None)
        if found is None:
            return Response(status_code=204, headers={"OData-Version": "4.0"})
        return one_row(call, target, found)

    return handle


def record_routes(table: Table, record_id: str) -> dict[tuple[str, ...], tuple[str, Handler]]:
    """GET of the record and of each of its navigation properties."""
    routes: dict[tuple[str, ...], tuple[str, Handler]] = {(): ("GET", get_record(table, record_id))}
    for navigation in table.navigations.values():
        routes[(navigation.name,)] = ("GET", navigate(table, record_id, navigation))
    return routes
