"""``$expand`` of navigation properties, with the nested options Dataverse accepts.

``$expand=MachineId($select=name,statuscode;$expand=FlowMachineGroupId($select=name))`` on single-valued
navigation properties (nested ``$select`` and ``$expand``); ``$expand=flowmachinegroup_flowmachine(
$select=name;$filter=statecode eq 0;$orderby=name;$top=10)`` on collection-valued ones (``$select``,
``$filter``, ``$orderby``, ``$top``; no nested ``$expand``, a restriction we choose). Names are
case-sensitive; an unknown one is Dataverse's 400 "Could not find a property named ...". Expanded rows
come through the same privilege checks as a direct read, so expanding into a table the caller may not
read is the 403 of that table. A lookup pointing at a row the caller cannot see expands to ``null``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import bad_query, unknown_property
from .machine_tables import TABLES
from .odata import Query, parse_orderby, parse_select, parse_top, project, run_query
from .odata_filter import Row, parse_filter
from .tables import Navigation, Table

Related = Callable[[str], Sequence[Row]]
_SINGLE_OPTIONS = {"$select", "$expand"}
_COLLECTION_OPTIONS = {"$select", "$filter", "$orderby", "$top"}


@dataclass(frozen=True)
class Expand:
    navigation: Navigation
    table: Table
    query: Query
    nested: tuple[Expand, ...]

    @property
    def context_part(self) -> str:
        """This expansion in a context URL: ``Nav(col,col,Nested(...))``."""
        parts = [*self.query.select, *(inner.context_part for inner in self.nested)]
        return f"{self.navigation.name}({','.join(parts)})"


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside parentheses and single-quoted literals."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                raise bad_query(f"Syntax error: unbalanced parentheses in '{text}'.")
        elif not quoted and depth == 0 and char == separator:
            parts.append(text[start:index])
            start = index + 1
    if depth or quoted:
        raise bad_query(f"Syntax error: unbalanced parentheses or quotes in '{text}'.")
    return [*parts, text[start:]]


def parse_expand(text: str | None, table: Table) -> tuple[Expand, ...]:
    """Validate ``$expand`` against ``table``'s navigation properties."""
    if text is None:
        return ()
    return tuple(_parse_item(item.strip(), table) for item in split_top_level(text, ","))


def _parse_item(item: str, table: Table) -> Expand:
    name, _, rest = item.partition("(")
    if rest and not rest.endswith(")"):
        raise bad_query(f"Syntax error in $expand at '{item}'.")
    navigation = table.navigations.get(name.strip())
    if navigation is None:
        raise unknown_property(name.strip(), table.logical_name)
    target = TABLES[navigation.target]
    options: dict[str, str] = {}
    for option in split_top_level(rest[:-1], ";") if rest[:-1].strip() else []:
        key, equals, value = option.partition("=")
        allowed = _COLLECTION_OPTIONS if navigation.collection else _SINGLE_OPTIONS
        if not equals or key.strip() not in allowed:
            raise bad_query(
                f"The query option '{key.strip()}' is not supported in $expand of the navigation property "
                f"'{navigation.name}'. Use one of: {', '.join(sorted(allowed))}."
            )
        options[key.strip()] = value.strip()
    query = Query(
        filter=parse_filter(options["$filter"], target) if "$filter" in options else None,
        select=parse_select(options.get("$select"), target),
        orderby=parse_orderby(options.get("$orderby"), target),
        top=parse_top(options.get("$top")),
    )
    return Expand(navigation, target, query, parse_expand(options.get("$expand"), target))


def check_access(expands: Sequence[Expand], related: Related) -> None:
    """Read every expanded entity set once, so a missing privilege is a 403 even when no row would expand."""
    for expand in expands:
        related(expand.navigation.target)
        check_access(expand.nested, related)


def expand_into(
    body: dict[str, object], row: Row, table: Table, expands: Sequence[Expand], related: Related
) -> dict[str, object]:
    """Add each expanded navigation property to the projected ``body`` of ``row``."""
    for expand in expands:
        navigation, target = expand.navigation, expand.table
        if navigation.collection:
            children = [child for child in related(navigation.target) if child.get(navigation.column) == row[table.key]]
            page = run_query(children, expand.query, target, None)
            body[navigation.name] = [project(child, expand.query.select, target) for child in page.rows]
            continue
        reference = row.get(navigation.column)
        found = next((other for other in related(navigation.target) if other[target.key] == reference), None)
        body[navigation.name] = (
            None
            if reference is None or found is None
            else expand_into(project(found, expand.query.select, target), found, target, expand.nested, related)
        )
    return body
