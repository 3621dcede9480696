"""FetchXML aggregate queries (``GET <entityset>?fetchXml=...``): the subset that groups by parts of a date.

Supported, per "Aggregate data using FetchXml" and the FetchXML reference:

    <fetch aggregate="true" [aggregatelimit="n"]>
      <entity name="<logical name of the entity set asked>">
        <attribute name="col" alias="a" aggregate="count|countcolumn|sum|avg|min|max"/>
        <attribute name="col" alias="a" groupby="true" [dategrouping="day|month|year"] [usertimezone="false"]/>
        <filter [type="and|or"]><condition attribute="col" operator="eq|ne|lt|le|gt|ge|in|null|not-null"
                                           value="..."> [<value>...</value>] </condition> [<filter>...]</filter>
      </entity>
    </fetch>

A lookup is named by its logical name (``regardingobjectid``), as FetchXML does. Date parts are those of UTC (the
emulator's users all live in UTC). Rows as the Web API answers them: one object per group, keyed by alias, a null
group value left out. Past the aggregate limit (50,000, or a lower ``aggregatelimit``) the answer is 400
0x8004E023, as for ``$apply``. Anything else (no aggregate, link-entity, order) is 400.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .aggregate import AGGREGATE_LIMIT_CODE, AGGREGATE_LIMIT_MESSAGE
from .errors import DataverseError, bad_query, unknown_property
from .odata_filter import COMPARISONS, Row, parse_datetime
from .tables import ColumnType, Table

_DATE_PARTS: dict[str, Callable[[datetime], int]] = {
    "day": lambda d: d.day,
    "month": lambda d: d.month,
    "year": lambda d: d.year,
}
_AGGREGATES = ("count", "countcolumn", "sum", "avg", "min", "max")
Condition = Callable[[Row], bool]


@dataclass(frozen=True)
class Attribute:
    column: str
    alias: str
    aggregate: str | None = None
    date_part: str | None = None


def _column(table: Table, name: str) -> str:
    for candidate in (name, f"_{name}_value"):
        if candidate in table.columns:
            return candidate
    raise unknown_property(name, table.logical_name)


def _query(text: str, table: Table) -> tuple[list[Attribute], Condition, int | None]:
    try:
        fetch = ET.fromstring(text)
    except ET.ParseError as error:
        raise bad_query(f"The fetchXml parameter is not well-formed XML: {error}.") from None
    entity = fetch.find("entity")
    if fetch.tag != "fetch" or entity is None or fetch.get("aggregate") != "true":
        raise bad_query("Only aggregate FetchXML queries (<fetch aggregate='true'><entity ...>) are supported here.")
    if entity.get("name") != table.logical_name:
        raise bad_query(f"The entity '{entity.get('name')}' does not match the entity set '{table.entity_set}'.")
    attributes: list[Attribute] = []
    condition: Condition = lambda row: True  # noqa: E731
    for child in entity:
        if child.tag == "attribute":
            attributes.append(_attribute(child, table))
        elif child.tag == "filter":
            condition = _filter(child, table)
        else:
            raise bad_query(f"The FetchXML element '{child.tag}' is not supported here.")
    limit = fetch.get("aggregatelimit")
    return attributes, condition, int(limit) if limit and limit.isdigit() else None


def _attribute(element: ET.Element, table: Table) -> Attribute:
    name, alias = element.get("name"), element.get("alias")
    if not name or not alias:
        raise bad_query("Each attribute of an aggregate query needs a name and an alias.")
    column = _column(table, name)
    aggregate, part = element.get("aggregate"), element.get("dategrouping")
    if aggregate is not None and aggregate not in _AGGREGATES:
        raise bad_query(f"The aggregate '{aggregate}' is not supported.")
    if aggregate is None and element.get("groupby") != "true":
        raise bad_query(f"The attribute '{name}' needs aggregate or groupby='true' in an aggregate query.")
    if part is not None and (part not in _DATE_PARTS or table.columns[column] is not ColumnType.DATETIME):
        raise bad_query(f"dategrouping '{part}' is not supported on '{name}'.")
    return Attribute(column, alias, aggregate, part)


def _filter(element: ET.Element, table: Table) -> Condition:
    parts: list[Condition] = []
    for child in element:
        if child.tag == "condition":
            parts.append(_condition(child, table))
        elif child.tag == "filter":
            parts.append(_filter(child, table))
        else:
            raise bad_query(f"The FetchXML element '{child.tag}' is not supported in a filter.")
    if element.get("type", "and") == "or":
        return lambda row: any(part(row) for part in parts)
    return lambda row: all(part(row) for part in parts)


def _condition(element: ET.Element, table: Table) -> Condition:
    column = _column(table, element.get("attribute") or "")
    operator = element.get("operator") or ""
    kind = table.columns[column]
    if operator == "null":
        return lambda row: row.get(column) is None
    if operator == "not-null":
        return lambda row: row.get(column) is not None
    if operator == "in":
        wanted = {_value(value.text or "", kind) for value in element.findall("value")}
        return lambda row: row.get(column) is not None and _value(row[column], kind) in wanted
    compare = COMPARISONS.get(operator)
    if compare is None:
        raise bad_query(f"The condition operator '{operator}' is not supported.")
    expected = _value(element.get("value") or "", kind)
    return lambda row: row.get(column) is not None and compare(_value(row[column], kind), expected)


def _value(value: object, kind: ColumnType) -> object:
    if kind is ColumnType.DATETIME:
        return parse_datetime(str(value))
    if kind is ColumnType.INT:
        return int(str(value))
    return str(value).casefold()


def run_fetch(text: str, rows: Sequence[Row], table: Table, limit: int) -> list[dict[str, object]]:
    attributes, condition, own_limit = _query(text, table)
    selected = [row for row in rows if condition(row)]
    if len(selected) > min(limit, own_limit or limit):
        raise DataverseError(400, AGGREGATE_LIMIT_CODE, AGGREGATE_LIMIT_MESSAGE)
    keys = [a for a in attributes if a.aggregate is None]
    groups: dict[tuple[object, ...], list[Row]] = {}
    for row in selected:
        groups.setdefault(tuple(_group_value(row, a) for a in keys), []).append(row)
    if not keys:
        groups.setdefault((), [])
    answer: list[dict[str, object]] = []
    for key in sorted(groups, key=lambda k: tuple((v is not None, str(v)) for v in k)):
        values = {a.alias: value for a, value in zip(keys, key, strict=True) if value is not None}
        members = groups[key]
        answer.append({**values, **{a.alias: _reduce(a, members) for a in attributes if a.aggregate}})
    return answer


def _group_value(row: Row, attribute: Attribute) -> object:
    value = row.get(attribute.column)
    if value is None or attribute.date_part is None:
        return value
    moment = datetime.fromtimestamp(parse_datetime(str(value)), UTC)
    return _DATE_PARTS[attribute.date_part](moment)


def _reduce(attribute: Attribute, rows: list[Row]) -> object:
    if attribute.aggregate == "count":
        return len(rows)
    values = [row[attribute.column] for row in rows if row.get(attribute.column) is not None]
    if attribute.aggregate == "countcolumn":
        return len(values)
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return None
    if attribute.aggregate == "sum":
        return sum(numbers)
    if attribute.aggregate == "avg":
        return sum(numbers) / len(numbers)
    return min(numbers) if attribute.aggregate == "min" else max(numbers)
