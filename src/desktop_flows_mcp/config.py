"""Settings, read once from the environment and the command line, and checked before anything starts.

``Settings.from_env`` is pure: it takes a mapping (``os.environ`` in production, a dict in tests) plus the
command-line overrides, and raises one ``ConfigError`` that names the variable and shows a valid example.
Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import urlsplit

AuthMode = Literal["access_token", "emulator"]
ConnectionType = Literal["connection", "connection_reference"]
RunMode = Literal["attended", "unattended"]

AUTH_MODES: tuple[str, ...] = ("access_token",)
EXAMPLE_URL = "https://contoso.crm.dynamics.com"
EMULATOR_URL = "http://emulator.local"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and shows a valid example."""

    def __init__(self, variable: str, problem: str, example: str) -> None:
        super().__init__(f"{variable}: {problem} Example: {variable}={example}")
        self.variable = variable


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class _RunOptions:
    connection_name: str | None
    connection_type: ConnectionType
    run_mode: RunMode
    allowed_flows: tuple[str, ...]
    read_only: bool
    poll_interval_seconds: float


@dataclass(frozen=True)
class Settings:
    dataverse_url: str
    auth_mode: AuthMode
    access_token: Secret | None = None
    connection_name: str | None = None
    connection_type: ConnectionType = "connection"
    run_mode: RunMode = "attended"
    allowed_flows: tuple[str, ...] = ()
    read_only: bool = False
    poll_interval_seconds: float = 2.0
    # Why the emulator was chosen, for the start-up line on stderr; None when a tenant is configured.
    emulator_reason: str | None = field(default=None, compare=False)

    @property
    def uses_emulator(self) -> bool:
        return self.auth_mode == "emulator"

    @classmethod
    def from_env(cls, env: Mapping[str, str], overrides: Mapping[str, str | bool | None] | None = None) -> Settings:
        """Build settings from ``env``; ``overrides`` (command-line flags, by variable name) win."""
        values = _Values(env, overrides or {})
        use_emulator = values.flag("DESKTOP_FLOWS_EMULATOR")
        url = values.get("DATAVERSE_URL")
        reason: str | None = None
        if use_emulator:
            reason = "--emulator was given"
        elif url is None:
            configured = [name for name in ("DATAVERSE_AUTH", "DATAVERSE_ACCESS_TOKEN") if values.get(name)]
            if configured:
                raise ConfigError(
                    "DATAVERSE_URL",
                    f"is not set, but {', '.join(configured)} is; say which environment to use.",
                    EXAMPLE_URL,
                )
            use_emulator = True
            reason = "DATAVERSE_URL is not set"

        options = _RunOptions(
            connection_name=values.get("DESKTOP_FLOWS_CONNECTION"),
            connection_type=cast(
                ConnectionType,
                values.choice("DESKTOP_FLOWS_CONNECTION_TYPE", ("connection", "connection_reference"), "connection"),
            ),
            run_mode=cast(RunMode, values.choice("DESKTOP_FLOWS_RUN_MODE", ("attended", "unattended"), "attended")),
            allowed_flows=values.csv("DESKTOP_FLOWS_ALLOWED"),
            read_only=values.flag("DESKTOP_FLOWS_READ_ONLY"),
            poll_interval_seconds=values.number("DESKTOP_FLOWS_POLL_SECONDS", 2.0, low=0.0, high=60.0),
        )
        if use_emulator:
            return cls(dataverse_url=EMULATOR_URL, auth_mode="emulator", emulator_reason=reason, **options.__dict__)

        assert url is not None
        dataverse_url = normalise_dataverse_url(url)
        mode = values.choice("DATAVERSE_AUTH", AUTH_MODES, None)
        token = values.get("DATAVERSE_ACCESS_TOKEN")
        if mode is None:
            if token is None:
                raise ConfigError(
                    "DATAVERSE_AUTH",
                    "is not set and no credentials were found; choose how to sign in to Dataverse.",
                    "access_token (with DATAVERSE_ACCESS_TOKEN=eyJ0eXAi...)",
                )
            mode = "access_token"
        if mode == "access_token" and token is None:
            raise ConfigError(
                "DATAVERSE_ACCESS_TOKEN",
                "is required when DATAVERSE_AUTH=access_token.",
                "eyJ0eXAiOiJKV1Qi... (a bearer token for " + dataverse_url + ")",
            )
        return cls(
            dataverse_url=dataverse_url,
            auth_mode=cast(AuthMode, mode),
            access_token=Secret(token) if token else None,
            **options.__dict__,
        )


def normalise_dataverse_url(raw: str) -> str:
    """``https://org.crm.dynamics.com/api/data/v9.2/`` → ``https://org.crm.dynamics.com``; https only."""
    text = raw.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("DATAVERSE_URL", f"is not an absolute URL ({raw!r}).", EXAMPLE_URL)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("DATAVERSE_URL", "must not contain credentials, a query or a fragment.", EXAMPLE_URL)
    path = parts.path.rstrip("/")
    lowered = path.lower()
    for suffix in ("/api/data/v9.2", "/api/data/v9.1", "/api/data/v9.0", "/api/data"):
        if lowered.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if path:
        raise ConfigError("DATAVERSE_URL", f"should be the environment root, without the path {path!r}.", EXAMPLE_URL)
    host = parts.hostname.lower()
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            "DATAVERSE_URL", "must use https (plain http is allowed only for loopback hosts).", EXAMPLE_URL
        )
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Values:
    """Reads settings by variable name: flags first, then the environment; blanks and placeholders are unset."""

    def __init__(self, env: Mapping[str, str], overrides: Mapping[str, str | bool | None]) -> None:
        self._env = env
        self._overrides = overrides

    def _raw(self, name: str) -> str | bool | None:
        if self._overrides.get(name) is not None:
            return self._overrides[name]
        return self._env.get(name)

    def get(self, name: str) -> str | None:
        value = self._raw(name)
        if value is None or isinstance(value, bool):
            return None
        value = value.strip()
        # MCP hosts pass "${user_config.x}" through when an optional field is left empty.
        if not value or (value.startswith("${") and value.endswith("}")):
            return None
        return value

    def flag(self, name: str) -> bool:
        raw = self._raw(name)
        if isinstance(raw, bool):
            return raw
        value = self.get(name)
        if value is None:
            return False
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false (got {value!r}).", "true")

    def choice(self, name: str, options: tuple[str, ...], default: str | None) -> str | None:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() not in options:
            raise ConfigError(name, f"must be one of {', '.join(options)} (got {value!r}).", options[0])
        return value.lower()

    def csv(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return ()
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            raise ConfigError(name, f"must be a number from {low:g} to {high:g} (got {value!r}).", str(default))
        return number


# Other settings modules (the HTTP transport) read the environment the same way.
EnvReader = _Values
