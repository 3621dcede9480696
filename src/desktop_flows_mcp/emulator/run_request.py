"""The RunDesktopFlow request body, validated like Dataverse's action deserializer would.

Parameter names are case-sensitive and unknown ones are rejected (OData action semantics);
``inputs`` must be a *string* holding a JSON object, at most 2 MB of UTF-8; it is kept as sent (whitespace and
all), since Dataverse stores it as the run's ``inputs`` file.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import DataverseError, bad_query, invalid_argument

MAX_INPUTS_BYTES = 2 * 1024 * 1024
MAX_TIMEOUT = 86_400
DEFAULT_TIMEOUT = 10_800
RUN_MODES = {"attended": 1, "unattended": 2}
_STRING = ("connectionName", "runMode", "runPriority", "inputs", "callbackUrl")
_INT = ("timeout", "connectionType")
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")  # spaces, controls, backslashes: no URL parser agrees on them
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class RunRequest:
    connection_name: str
    connection_type: int
    run_mode: int
    priority: str
    inputs: dict[str, object]
    timeout: int
    callback_url: str | None
    inputs_text: str | None = None  # the string as sent: the run's ``inputs`` file keeps it byte for byte


def _odata_type_error(name: str, value: object, expected: str) -> DataverseError:
    if isinstance(value, dict):
        node = "StartObject"
    elif isinstance(value, list):
        node = "StartArray"
    else:
        return bad_query(f"Cannot convert the literal '{json.dumps(value)}' to the expected type '{expected}'.")
    return bad_query(
        f"An unexpected '{node}' node was found when reading from the JSON reader. "
        f"A 'PrimitiveValue' node was expected. (parameter '{name}')"
    )


def _read_body(raw: bytes) -> dict[str, object]:
    try:
        body: object = json.loads(raw or b"{}")
    except ValueError as error:
        raise bad_query(f"The request body is not valid JSON: {error}.") from error
    if not isinstance(body, dict):
        raise bad_query("The request body must be a JSON object holding the action parameters.")
    return body  # pyright: ignore[reportUnknownVariableType]


def parse_run_request(raw: bytes) -> RunRequest:
    body = _read_body(raw)
    for name, value in body.items():
        if name not in _STRING and name not in _INT:
            raise bad_query(
                f"The parameter '{name}' in the request payload is not a valid parameter for the "
                "operation 'RunDesktopFlow'."
            )
        if value is None:
            continue
        if name in _STRING and not isinstance(value, str):
            raise _odata_type_error(name, value, "Edm.String")
        if name in _INT and (isinstance(value, bool) or not isinstance(value, int)):
            raise _odata_type_error(name, value, "Edm.Int32")
    connection_name = body.get("connectionName")
    run_mode = body.get("runMode")
    if not isinstance(connection_name, str) or not connection_name.strip():
        raise invalid_argument("The parameter 'connectionName' is required and cannot be null or empty.")
    if not isinstance(run_mode, str) or not run_mode.strip():
        raise invalid_argument("The parameter 'runMode' is required and cannot be null or empty.")
    if run_mode.lower() not in RUN_MODES:
        raise invalid_argument(f"Invalid runMode '{run_mode}'. Expected 'attended' or 'unattended'.")
    timeout = body.get("timeout")
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    assert isinstance(timeout, int)
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise invalid_argument(f"Invalid timeout {timeout}. The timeout must be between 1 and {MAX_TIMEOUT} seconds.")
    connection_type = body.get("connectionType")
    connection_type = 1 if connection_type is None else connection_type
    if connection_type not in (1, 2):
        raise invalid_argument(
            f"Invalid connectionType {connection_type}. Use 1 for a connection or 2 for a connection reference."
        )
    priority = body.get("runPriority")
    callback_url = body.get("callbackUrl")
    return RunRequest(
        connection_name=connection_name,
        connection_type=int(connection_type),  # pyright: ignore[reportArgumentType]
        run_mode=RUN_MODES[run_mode.lower()],
        priority=priority.lower() if isinstance(priority, str) and priority.strip() else "normal",
        inputs=_parse_inputs(body.get("inputs")),
        timeout=timeout,
        callback_url=_check_callback(callback_url) if isinstance(callback_url, str) else None,
        inputs_text=inputs if isinstance(inputs := body.get("inputs"), str) else None,
    )


def _parse_inputs(value: object) -> dict[str, object]:
    if value is None:
        return {}
    assert isinstance(value, str)
    size = len(value.encode("utf-8"))
    if size > MAX_INPUTS_BYTES:
        raise invalid_argument(
            f"The inputs content size ({size} bytes) exceeds the limit of {MAX_INPUTS_BYTES} bytes (2 MB)."
        )
    try:
        parsed: object = json.loads(value)
    except ValueError as error:
        raise invalid_argument(f"The 'inputs' parameter is not valid JSON: {error}.") from error
    if not isinstance(parsed, dict):
        raise invalid_argument("The 'inputs' parameter must be a JSON object serialized as a string.")
    return parsed  # pyright: ignore[reportUnknownVariableType]


def _check_callback(url: str) -> str:
    """An absolute http(s) URL on a well-formed host: a DNS name (letters, digits, hyphens) or an IP address.
    http and loopback stay allowed here, unlike in Dataverse, so that tests can receive callbacks locally."""
    if not _callback_ok(url):
        shown = url if len(url) <= 200 else url[:200] + "..."
        raise invalid_argument(
            f"Invalid callbackUrl {shown!r}. Provide an absolute HTTPS URL on a valid host name (max 2000 characters)."
        )
    return url


def _callback_ok(url: str) -> bool:
    if len(url) > 2000 or _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading it validates it
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.username is not None or parts.password is not None:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            name = host.removesuffix(".").encode("idna").decode("ascii")  # bücher.example is xn--bcher-kva.example
        except UnicodeError:
            return False
        return all(_LABEL.fullmatch(label) for label in name.split("."))
    return True
