"""The ``$filter`` subset Dataverse clients use, parsed and evaluated the way Dataverse does.

Grammar: ``or`` < ``and`` < ``not`` < comparison; comparisons ``eq ne gt ge lt le``; functions
``contains``, ``startswith``, ``endswith`` on string columns. Literals: ``'text'`` (a quote is
doubled), numbers, ``true``/``false``/``null``, unquoted GUIDs and ISO dates. String comparisons
ignore case, and the three functions are SQL ``LIKE`` underneath, so ``%``, ``_`` and ``[...]``
in their argument are wildcards (write ``[%]``, ``[_]``, ``[[]`` to match them literally).

Nesting (parentheses and ``not``) deeper than ``MAX_DEPTH`` is a 400 with OData's "recursion limit" words, before
the parser could exhaust Python's stack; ``and``/``or`` chains of any length are flat lists, never deep closures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import DataverseError, bad_query, unknown_property
from .like import like_pattern
from .tables import ColumnType, Table

Row = Mapping[str, object]
Predicate = Callable[[Row], bool]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?(?![\w:-])")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_][\w.]*")
_OPERATORS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_LIKE_FUNCTIONS = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}
_NULL = "null"
MAX_DEPTH = 100  # Dataverse's OData parser stops at 800; no client nests anywhere near 100


@dataclass(frozen=True)
class Token:
    kind: str  # "(" ")" "," "string" "guid" "datetime" "number" "ident"
    text: str
    position: int
    value: object = None


@dataclass(frozen=True)
class Operand:
    """A column reference (``column`` set) or a literal (``type`` is None for ``null``)."""

    type: ColumnType | None
    column: str | None = None
    value: object = None


def parse_datetime(text: str) -> float:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            tokens.append(Token(char, char, i))
            i += 1
        elif char == "'":
            i = _read_string(text, i, tokens)
        elif match := _GUID.match(text, i):
            tokens.append(Token("guid", match.group(), i, match.group().lower()))
            i = match.end()
        elif match := _DATETIME.match(text, i):
            tokens.append(Token("datetime", match.group(), i, parse_datetime(match.group())))
            i = match.end()
        elif match := _NUMBER.match(text, i):
            number = float(match.group()) if "." in match.group() else int(match.group())
            tokens.append(Token("number", match.group(), i, number))
            i = match.end()
        elif match := _IDENT.match(text, i):
            tokens.append(Token("ident", match.group(), i))
            i = match.end()
        else:
            raise bad_query(f"Syntax error: character '{char}' is not valid at position {i} in '{text}'.")
    return tokens


def _read_string(text: str, start: int, tokens: list[Token]) -> int:
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        if text[i] == "'":
            if text[i + 1 : i + 2] == "'":
                chars.append("'")
                i += 2
                continue
            tokens.append(Token("string", text[start : i + 1], start, "".join(chars)))
            return i + 1
        chars.append(text[i])
        i += 1
    raise bad_query(f"There is an unterminated literal at position {start} in '{text}'.")


class _Parser:
    def __init__(self, text: str, table: Table) -> None:
        self.text = text
        self.table = table
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def parse(self) -> Predicate:
        if not self.tokens:
            raise bad_query("The $filter query option must not be empty.")
        predicate = self._or()
        if self.index < len(self.tokens):
            raise self._syntax_error(self.tokens[self.index])
        return predicate

    def _peek_word(self) -> str | None:
        token = self.tokens[self.index] if self.index < len(self.tokens) else None
        return token.text.lower() if token and token.kind == "ident" else None

    def _next(self) -> Token:
        if self.index >= len(self.tokens):
            raise bad_query(f"Syntax error: the expression ended unexpectedly in '{self.text}'.")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _expect(self, kind: str) -> Token:
        token = self._next()
        if token.kind != kind:
            raise self._syntax_error(token)
        return token

    def _syntax_error(self, token: Token) -> DataverseError:
        return bad_query(f"Syntax error at position {token.position} in '{self.text}'.")

    def _or(self) -> Predicate:
        terms = [self._and()]
        while self._peek_word() == "or":
            self.index += 1
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else _either(terms)

    def _and(self) -> Predicate:
        terms = [self._not()]
        while self._peek_word() == "and":
            self.index += 1
            terms.append(self._not())
        return terms[0] if len(terms) == 1 else _both(terms)

    def _not(self) -> Predicate:
        if self._peek_word() == "not":
            self.index += 1
            with self._deeper():
                inner = self._not()
            return lambda row: not inner(row)
        return self._primary()

    def _primary(self) -> Predicate:
        token = self._next()
        if token.kind == "(":
            with self._deeper():
                inner = self._or()
            self._expect(")")
            return inner
        if token.kind == "ident" and self.index < len(self.tokens) and self.tokens[self.index].kind == "(":
            return self._function(token)
        left = self._operand(token)
        operator = self._next()
        if operator.kind != "ident" or operator.text not in _OPERATORS:
            raise self._syntax_error(operator)
        right = self._operand(self._next())
        return self._comparison(operator.text, left, right)

    @contextmanager
    def _deeper(self) -> Generator[None, None, None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise bad_query("The recursion limit has been exceeded.")
        try:
            yield
        finally:
            self.depth -= 1

    def _operand(self, token: Token) -> Operand:
        if token.kind == "ident":
            word = token.text
            if word in ("true", "false"):
                return Operand(ColumnType.BOOLEAN, value=word == "true")
            if word == _NULL:
                return Operand(None)
            column_type = self.table.columns.get(word)
            if column_type is None:
                raise unknown_property(word, self.table.logical_name)
            return Operand(column_type, column=word)
        literal_types = {
            "string": ColumnType.STRING,
            "guid": ColumnType.GUID,
            "datetime": ColumnType.DATETIME,
            "number": ColumnType.INT,
        }
        if token.kind not in literal_types:
            raise self._syntax_error(token)
        return Operand(literal_types[token.kind], value=token.value)

    def _function(self, name: Token) -> Predicate:
        template = _LIKE_FUNCTIONS.get(name.text)
        if template is None:
            raise bad_query(
                f"An unknown function with name '{name.text}' was found. This may also be a function "
                "import or a key lookup on a navigation property, which is not allowed."
            )
        self._expect("(")
        column = self._operand(self._next())
        self._expect(",")
        argument = self._operand(self._next())
        self._expect(")")
        string = ColumnType.STRING
        if column.column is None or column.type is not string or argument.type is not string:
            raise bad_query(
                f"No function signature for the function with name '{name.text}' matches the specified "
                f"arguments. The function signatures considered are: {name.text}(Edm.String Nullable=true, "
                "Edm.String Nullable=true)."
            )
        pattern = like_pattern(template.format(argument.value))
        key = column.column

        def matches(row: Row) -> bool:
            value = row.get(key)
            return isinstance(value, str) and pattern.fullmatch(value.casefold())

        return matches

    def _comparison(self, operator: str, left: Operand, right: Operand) -> Predicate:
        if left.type is not None and right.type is not None and left.type is not right.type:
            raise bad_query(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{left.type.value}' and '{right.type.value}' for operator kind '{_OPERATORS[operator]}'."
            )
        column_type = left.type or right.type

        def compare(row: Row) -> bool:
            a, b = _resolve(left, row, column_type), _resolve(right, row, column_type)
            if a is None or b is None:
                return (a is None and b is None) if operator == "eq" else (operator == "ne" and a != b)
            return COMPARISONS[operator](a, b)

        return compare


def _resolve(operand: Operand, row: Row, column_type: ColumnType | None) -> object:
    value = row.get(operand.column) if operand.column is not None else operand.value
    if value is None:
        return None
    if column_type is ColumnType.STRING or column_type is ColumnType.GUID:
        return str(value).casefold()
    if column_type is ColumnType.DATETIME and isinstance(value, str):
        return parse_datetime(value)
    return value


def _lt(a: object, b: object) -> bool:
    return a < b  # type: ignore[operator]  # operands share a column type


COMPARISONS: dict[str, Callable[[object, object], bool]] = {  # also FetchXML condition operators
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": _lt,
    "gt": lambda a, b: _lt(b, a),
    "le": lambda a, b: not _lt(b, a),
    "ge": lambda a, b: not _lt(a, b),
}


def _either(terms: list[Predicate]) -> Predicate:
    return lambda row: any(term(row) for term in terms)


def _both(terms: list[Predicate]) -> Predicate:
    return lambda row: all(term(row) for term in terms)


def parse_filter(text: str, table: Table) -> Predicate:
    """Compile a ``$filter`` expression for ``table`` or raise a 400 DataverseError."""
    return _Parser(text, table).parse()
