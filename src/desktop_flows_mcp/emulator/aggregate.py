"""OData ``$apply`` on collections: the aggregation subset Dataverse documents, answered as Dataverse would.

Grammar (transformations joined by ``/``, applied left to right):

    filter(<$filter expression>)
    groupby((col, ...))                      distinct values of the columns
    groupby((col, ...), aggregate(<agg>, ...))
    aggregate(<agg>, ...)                    one row over everything
    <agg> := $count as <alias> | <col> with sum|average|min|max|countdistinct as <alias>

As documented ("Aggregate data using OData", ms.date 07/11/2024): grouping by a date-time column is refused,
nulls are left out of averages, sums, minimums and maximums, and a group value that is null is left out of the
row (as in the docs' distinct-values example). The aggregate functions see at most ``AGGREGATE_LIMIT`` (50,000)
rows: past that the answer is 400 with code 0x8004E023, "AggregateQueryRecordLimit exceeded" (FetchXML
"Aggregate data", Limitations). ``$apply`` takes no other query option here; groups come in ascending order of
their values, nulls first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import DataverseError, bad_query, unknown_property
from .expand import split_top_level
from .odata_filter import Predicate, Row, parse_datetime, parse_filter
from .tables import ColumnType, Table

AGGREGATE_LIMIT = 50_000
AGGREGATE_LIMIT_CODE = "0x8004E023"
AGGREGATE_LIMIT_MESSAGE = "AggregateQueryRecordLimit exceeded. Cannot perform this operation."
_FUNCTIONS = ("sum", "average", "min", "max", "countdistinct")
_COUNT = re.compile(r"^\$count\s+as\s+(?P<alias>[A-Za-z_]\w*)$")
_WITH = re.compile(r"^(?P<column>[A-Za-z_]\w*)\s+with\s+(?P<fn>\w+)\s+as\s+(?P<alias>[A-Za-z_]\w*)$")


@dataclass(frozen=True)
class Aggregation:
    alias: str
    function: str  # "$count" or one of _FUNCTIONS
    column: str | None = None


@dataclass(frozen=True)
class Apply:
    filters: tuple[Predicate, ...]
    groupby: tuple[str, ...] | None
    aggregations: tuple[Aggregation, ...]


def split_top(text: str, separator: str) -> list[str]:
    return [part.strip() for part in split_top_level(text, separator)]


def _call(text: str) -> tuple[str, str]:
    """``name(arguments)`` → (name, arguments)."""
    match = re.fullmatch(r"(?P<name>\w+)\s*\((?P<inner>.*)\)", text.strip(), re.DOTALL)
    if match is None:
        raise bad_query(f"Syntax error in $apply transformation '{text}'.")
    return match["name"], match["inner"]


def parse_apply(text: str, table: Table) -> Apply:
    filters: list[Predicate] = []
    groupby: tuple[str, ...] | None = None
    aggregations: tuple[Aggregation, ...] = ()
    steps = split_top(text, "/")
    for position, step in enumerate(steps):
        name, inner = _call(step)
        last = position == len(steps) - 1
        if name == "filter" and groupby is None and not aggregations:
            filters.append(parse_filter(inner, table))
        elif name == "groupby" and last:
            groupby, aggregations = _groupby(inner, table)
        elif name == "aggregate" and last:
            aggregations = _aggregations(inner, table)
        else:
            raise bad_query(f"The $apply transformation '{name}' is not supported here.")
    return Apply(tuple(filters), groupby, aggregations)


def _groupby(inner: str, table: Table) -> tuple[tuple[str, ...], tuple[Aggregation, ...]]:
    parts = split_top(inner, ",")
    first = parts[0]
    if not (first.startswith("(") and first.endswith(")")):
        raise bad_query(f"groupby expects a parenthesised list of properties, got '{first}'.")
    columns = tuple(column.strip() for column in first[1:-1].split(","))
    for column in columns:
        column_type = table.columns.get(column)
        if column_type is None:
            raise unknown_property(column, table.logical_name)
        if column_type is ColumnType.DATETIME:
            raise bad_query(f"groupby is not supported on the date-time property '{column}'.")
    if len(parts) == 1:
        return columns, ()
    if len(parts) > 2:
        raise bad_query(f"Syntax error in groupby '{inner}'.")
    name, aggregate_inner = _call(parts[1])
    if name != "aggregate":
        raise bad_query(f"groupby takes an aggregate transformation, not '{name}'.")
    return columns, _aggregations(aggregate_inner, table)


def _aggregations(inner: str, table: Table) -> tuple[Aggregation, ...]:
    found: list[Aggregation] = []
    for item in split_top(inner, ","):
        if match := _COUNT.match(item):
            found.append(Aggregation(match["alias"], "$count"))
            continue
        match = _WITH.match(item)
        if match is None:
            raise bad_query(f"Syntax error in aggregate expression '{item}'.")
        if match["fn"] not in _FUNCTIONS:
            raise bad_query(f"The aggregation method '{match['fn']}' is not supported.")
        if match["column"] not in table.columns:
            raise unknown_property(match["column"], table.logical_name)
        found.append(Aggregation(match["alias"], match["fn"], match["column"]))
    aliases = [a.alias for a in found]
    if len(set(aliases)) != len(aliases):
        raise bad_query("Each aggregate needs its own alias.")
    return tuple(found)


def run_apply(rows: Sequence[Row], apply: Apply, table: Table, limit: int = AGGREGATE_LIMIT) -> list[dict[str, object]]:
    selected = [row for row in rows if all(check(row) for check in apply.filters)]
    if apply.aggregations and len(selected) > limit:
        raise DataverseError(400, AGGREGATE_LIMIT_CODE, AGGREGATE_LIMIT_MESSAGE)
    if apply.groupby is None:
        return [_aggregate(selected, apply.aggregations, table)]
    groups: dict[tuple[object, ...], list[Row]] = {}
    for row in selected:
        groups.setdefault(tuple(row.get(column) for column in apply.groupby), []).append(row)
    answer: list[dict[str, object]] = []
    for key in sorted(groups, key=_group_order):
        values = {column: value for column, value in zip(apply.groupby, key, strict=True) if value is not None}
        answer.append({**values, **_aggregate(groups[key], apply.aggregations, table)})
    return answer


def _group_order(key: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, str(value).casefold() if value is not None else "") for value in key)


def _aggregate(rows: list[Row], aggregations: tuple[Aggregation, ...], table: Table) -> dict[str, object]:
    out: dict[str, object] = {}
    for aggregation in aggregations:
        if aggregation.function == "$count":
            out[aggregation.alias] = len(rows)
            continue
        column = str(aggregation.column)
        values = [row[column] for row in rows if row.get(column) is not None]
        out[aggregation.alias] = _reduce(aggregation.function, values, table.columns[column])
    return out


def _reduce(function: str, values: list[object], column_type: ColumnType) -> object:
    if function == "countdistinct":
        return len({str(value).casefold() if isinstance(value, str) else value for value in values})
    if not values:
        return None
    if function in ("min", "max"):
        if column_type is ColumnType.DATETIME:
            chosen = (min if function == "min" else max)(values, key=lambda v: parse_datetime(str(v)))
            return chosen
        return (min if function == "min" else max)(values, key=lambda v: v)  # type: ignore[arg-type,return-value]
    numbers = [float(value) for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    if len(numbers) != len(values):
        raise bad_query(f"The aggregation method '{function}' needs a numeric property.")
    total = sum(numbers)
    return total if function == "sum" else total / len(numbers)
