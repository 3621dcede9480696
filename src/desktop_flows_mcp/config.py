"""Settings, read once from the environment and the command line, and checked before anything starts.

``Settings.from_env`` is pure: it takes a mapping (``os.environ`` in production, a dict in tests) plus the
command-line overrides, and raises one ``ConfigError`` that names the variable and shows a valid example.
Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, cast
from urllib.parse import urlsplit

AuthMode = Literal[
    "access_token", "emulator", "client_secret", "certificate", "device_code", "interactive", "managed_identity"
]
ConnectionType = Literal["connection", "connection_reference"]
RunMode = Literal["attended", "unattended"]

AUTH_MODES: tuple[str, ...] = (
    "client_secret",
    "certificate",
    "device_code",
    "interactive",
    "managed_identity",
    "access_token",
)
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
class RunOptions:
    """How runs are started and followed (DESKTOP_FLOWS_*)."""

    connection_name: str | None = None
    connection_type: ConnectionType = "connection"
    run_mode: RunMode = "attended"
    allowed_flows: tuple[str, ...] = ()
    read_only: bool = False
    poll_interval_seconds: float = 2.0
    flow_tools: bool = False  # each allowed flow is also a tool of its own (tools/flow_tools.py)


@dataclass(frozen=True)
class SharedOptions:
    """State the replicas of one deployment share (``shared_state``): none without a Redis URL."""

    redis_url: Secret | None = None  # redis:// or rediss://; may hold a password, so never shown
    cursor_secret: Secret | None = None  # cursors signed with a key derived from it, valid on every replica

    @property
    def redis_display(self) -> str | None:
        """The Redis address for start-up lines: scheme, host, port and database, never the credentials."""
        if self.redis_url is None:
            return None
        parts = urlsplit(self.redis_url.reveal())
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path or '/0'}"


@dataclass(frozen=True)
class Settings:
    dataverse_url: str
    sign_in: SignIn
    run: RunOptions = field(default_factory=RunOptions)
    public_url: str | None = None  # where Dataverse reaches this deployment: runs then report back to it
    shared: SharedOptions = field(default_factory=SharedOptions)

    @property
    def uses_emulator(self) -> bool:
        return self.sign_in.mode == "emulator"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        overrides: Mapping[str, str | bool | None] | None = None,
        *,
        platform: str = sys.platform,
    ) -> Settings:
        """Build settings from ``env``; ``overrides`` (command-line flags, by variable name) win."""
        values = _Values(env, overrides or {})
        use_emulator = values.flag("DESKTOP_FLOWS_EMULATOR")
        url = values.get("DATAVERSE_URL")
        reason = ""  # why the emulator serves, when it does (the start-up line says it)
        if use_emulator:
            reason = "--emulator was given"
        elif url is None:
            configured = [name for name in ("DATAVERSE_AUTH", *_CREDENTIAL_VARIABLES) if values.get(name)]
            if configured:
                raise ConfigError(
                    "DATAVERSE_URL",
                    f"is not set, but {', '.join(configured)} is; say which environment to use.",
                    EXAMPLE_URL,
                )
            use_emulator = True
            reason = "DATAVERSE_URL is not set"

        options = RunOptions(
            connection_name=values.get("DESKTOP_FLOWS_CONNECTION"),
            connection_type=cast(
                ConnectionType,
                values.choice("DESKTOP_FLOWS_CONNECTION_TYPE", ("connection", "connection_reference"), "connection"),
            ),
            run_mode=cast(RunMode, values.choice("DESKTOP_FLOWS_RUN_MODE", ("attended", "unattended"), "attended")),
            allowed_flows=_allowed(values),
            read_only=values.flag("DESKTOP_FLOWS_READ_ONLY"),
            poll_interval_seconds=values.number("DESKTOP_FLOWS_POLL_SECONDS", 2.0, low=0.0, high=60.0),
            flow_tools=_flow_tools(values),
        )
        shared = SharedOptions(_redis_url(values), _cursor_secret(values))
        public_url = normalise_public_url(raw) if (raw := values.get("DESKTOP_FLOWS_PUBLIC_URL")) else None
        if use_emulator:
            return cls(EMULATOR_URL, SignIn(mode="emulator", reason=reason), options, public_url, shared)

        assert url is not None
        dataverse_url = normalise_dataverse_url(url)
        if public_url and _is_loopback_url(public_url) and not _is_loopback_url(dataverse_url):
            raise ConfigError(
                "DESKTOP_FLOWS_PUBLIC_URL",
                f"is a loopback address, which Dataverse at {dataverse_url} cannot reach; give the public https URL.",
                "https://flows-mcp.contoso.com",
            )
        sign_in = _sign_in(values, dataverse_url, env, platform)
        return cls(dataverse_url, sign_in, options, public_url, shared)


_REDIS_EXAMPLE = "rediss://:password@redis.internal:6380/0"


def _redis_url(values: _Values) -> Secret | None:
    """DESKTOP_FLOWS_REDIS_URL, checked without ever repeating it (it may hold a password)."""
    raw = values.get("DESKTOP_FLOWS_REDIS_URL")
    if raw is None:
        return None
    name = "DESKTOP_FLOWS_REDIS_URL"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(
            name, "is not a valid URL (the value is not shown: it may hold a password).", _REDIS_EXAMPLE
        ) from None
    if parts.scheme.lower() not in ("redis", "rediss") or not parts.hostname:
        raise ConfigError(name, "must be a redis:// or rediss:// URL with a host.", _REDIS_EXAMPLE)
    if port == 0 or parts.fragment or not re.fullmatch(r"/?\d{0,2}", parts.path):
        raise ConfigError(name, "must be redis[s]://[user:password@]host[:port][/database number].", _REDIS_EXAMPLE)
    return Secret(raw)


def _cursor_secret(values: _Values) -> Secret | None:
    secret = values.get("DESKTOP_FLOWS_CURSOR_SECRET")
    if secret is not None and len(secret) < 32:
        raise ConfigError(
            "DESKTOP_FLOWS_CURSOR_SECRET",
            "must be at least 32 characters (the value is not shown).",
            "$(openssl rand -hex 32)",
        )
    return Secret(secret) if secret else None


def _allowed(values: _Values) -> tuple[str, ...]:
    """DESKTOP_FLOWS_ALLOWED; a value that lists nothing (",", " ; ") would allow everything, so it is refused."""
    raw = values.get("DESKTOP_FLOWS_ALLOWED")
    entries = values.csv("DESKTOP_FLOWS_ALLOWED")
    if raw is not None and not entries:
        raise ConfigError(
            "DESKTOP_FLOWS_ALLOWED",
            f"lists no flow (got {raw!r}); unset it to allow every flow, or name the flows.",
            "Enter invoices into legacy ERP,7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53",
        )
    return entries


MAX_FLOW_TOOLS = 50


def _flow_tools(values: _Values) -> bool:
    """DESKTOP_FLOWS_FLOW_TOOLS: a tool per allowed flow, so the allow-list must name the flows (at most 50)."""
    if not values.flag("DESKTOP_FLOWS_FLOW_TOOLS"):
        return False
    entries = values.csv("DESKTOP_FLOWS_ALLOWED")
    example = "Enter invoices into legacy ERP,7c4e2a91-3d5f-4b8a-a6e0-2f9c1d7b4e53"
    if not entries:
        raise ConfigError(
            "DESKTOP_FLOWS_ALLOWED",
            "must name the flows when DESKTOP_FLOWS_FLOW_TOOLS is on (each becomes a tool).",
            example,
        )
    if len(entries) > MAX_FLOW_TOOLS:
        raise ConfigError(
            "DESKTOP_FLOWS_ALLOWED",
            f"lists {len(entries)} flows; DESKTOP_FLOWS_FLOW_TOOLS serves at most {MAX_FLOW_TOOLS}.",
            example,
        )
    return True


# Variables that only make sense with a real environment; one of them without DATAVERSE_URL is a mistake.
_CREDENTIAL_VARIABLES = (
    "DATAVERSE_ACCESS_TOKEN",
    "DATAVERSE_CLIENT_ID",
    "DATAVERSE_CLIENT_SECRET",
    "DATAVERSE_CLIENT_CERTIFICATE",
    "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",
)
# App credentials that must not be configured next to an access token (two identities for one server).
_APP_CREDENTIALS = ("DATAVERSE_CLIENT_CERTIFICATE", "DATAVERSE_CLIENT_SECRET", "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID")
# The credential variables each mode reads; the others are reported as ignored when the mode is explicit.
_USED_BY: dict[str, tuple[str, ...]] = {
    "access_token": ("DATAVERSE_ACCESS_TOKEN",),
    "client_secret": ("DATAVERSE_CLIENT_SECRET",),
    "certificate": ("DATAVERSE_CLIENT_CERTIFICATE",),
    "managed_identity": ("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",),
}
_USERNAME = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
EXAMPLE_GUID = "00000000-1111-2222-3333-444444444444"
SAMPLE_PUBLIC_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"  # Microsoft's sample app in the Dataverse docs
_SHARED_TENANTS = ("common", "organizations", "consumers")


def _infer_mode(values: _Values) -> tuple[str, str]:
    """The sign-in mode when DATAVERSE_AUTH is unset, in this order, and why (for the start-up line).

    1. DATAVERSE_ACCESS_TOKEN                access_token
    2. DATAVERSE_CLIENT_CERTIFICATE          certificate
    3. DATAVERSE_CLIENT_SECRET               client_secret
    4. DATAVERSE_MANAGED_IDENTITY_CLIENT_ID  managed_identity (user-assigned)
    5. DATAVERSE_CLIENT_ID alone             device_code (a person, works without a browser)

    An access token next to app credentials (2-4) never gets here: ``_refuse_two_identities``.
    """
    for variable, mode in (
        ("DATAVERSE_ACCESS_TOKEN", "access_token"),
        ("DATAVERSE_CLIENT_CERTIFICATE", "certificate"),
        ("DATAVERSE_CLIENT_SECRET", "client_secret"),
        ("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID", "managed_identity"),
        ("DATAVERSE_CLIENT_ID", "device_code"),
    ):
        if values.get(variable):
            return mode, f"DATAVERSE_AUTH is not set; chose {mode} because {variable} is set"
    raise ConfigError(
        "DATAVERSE_AUTH",
        "is not set and no credentials were found; choose how to sign in to Dataverse: "
        + ", ".join(AUTH_MODES)
        + " (see the README's Sign-in section).",
        f"device_code (with DATAVERSE_CLIENT_ID={SAMPLE_PUBLIC_CLIENT_ID} or your own app's id)",
    )


def _refuse_two_identities(values: _Values) -> None:
    """An access token next to app credentials is two identities for one server: a start-up error, always.

    Even with DATAVERSE_AUTH set: a leftover token (often a person's, pasted for a quick test) or a credential an
    MCP host template fills in would otherwise decide who runs the flows, noted only on stderr that a stdio user
    never sees. Neither value is repeated.
    """
    app_credentials = [name for name in _APP_CREDENTIALS if values.get(name)]
    if values.get("DATAVERSE_ACCESS_TOKEN") and app_credentials:
        raise ConfigError(
            "DATAVERSE_ACCESS_TOKEN",
            f"is set next to {app_credentials[0]}: two identities for one server, and neither is picked silently. "
            "Unset the one you do not mean (DATAVERSE_AUTH, if set, must name the mode you keep).",
            f"(unset, to sign in with {app_credentials[0]})",
        )


@dataclass(frozen=True)
class SignIn:
    """How to get tokens: the mode, why it was chosen (for the start-up line), and that mode's settings."""

    mode: AuthMode
    reason: str
    authority_host: str | None = None
    access_token: Secret | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    client_certificate: str | None = None
    client_certificate_password: Secret | None = None
    managed_identity_client_id: str | None = None
    username: str | None = None  # the person to sign in as (person modes)
    token_cache_dir: str | None = None
    token_cache_plaintext: bool = False


def _sign_in(values: _Values, dataverse_url: str, env: Mapping[str, str], platform: str) -> SignIn:
    """The sign-in fields of Settings for the chosen mode, each required variable checked."""
    explicit = values.choice("DATAVERSE_AUTH", AUTH_MODES, None)
    _refuse_two_identities(values)
    mode, reason = (explicit, f"DATAVERSE_AUTH={explicit}") if explicit else _infer_mode(values)
    authority = values.get("DATAVERSE_AUTHORITY_HOST")
    ignored = [name for name in ("DATAVERSE_ACCESS_TOKEN", *_APP_CREDENTIALS) if values.get(name)]
    ignored = [name for name in ignored if explicit and name not in _USED_BY.get(explicit, ())]
    if ignored:  # an explicit mode wins, and the start-up line says what it leaves unused
        reason += f"; {', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored"
    base = SignIn(
        mode=cast(AuthMode, mode),
        reason=reason,
        authority_host=_authority_host(authority) if authority is not None else None,
    )
    if mode == "access_token":
        example = f"eyJ0eXAiOiJKV1Qi... (a bearer token for {dataverse_url})"
        return replace(base, access_token=Secret(_require(values, "DATAVERSE_ACCESS_TOKEN", mode, example)))
    if mode in ("client_secret", "certificate"):
        base = replace(
            base, tenant_id=_tenant(values, confidential=True), client_id=_guid(values, "DATAVERSE_CLIENT_ID", mode)
        )
        if mode == "client_secret":
            return replace(base, client_secret=Secret(_require(values, "DATAVERSE_CLIENT_SECRET", mode, "Abc8Q~...")))
        password = values.get("DATAVERSE_CLIENT_CERTIFICATE_PASSWORD")
        return replace(
            base,
            client_certificate=_require(values, "DATAVERSE_CLIENT_CERTIFICATE", mode, "/etc/desktop-flows-mcp/app.pem"),
            client_certificate_password=Secret(password) if password else None,
        )
    if mode in ("device_code", "interactive"):
        return replace(
            base,
            tenant_id=_tenant(values, confidential=False),
            client_id=_guid(values, "DATAVERSE_CLIENT_ID", mode, example=SAMPLE_PUBLIC_CLIENT_ID),
            username=_username(values),
            token_cache_dir=values.get("DATAVERSE_TOKEN_CACHE_DIR") or default_token_cache_dir(env, platform),
            token_cache_plaintext=values.flag("DATAVERSE_TOKEN_CACHE_PLAINTEXT"),
        )
    # managed_identity
    identity = values.get("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID")
    if identity is None and values.get("DATAVERSE_CLIENT_ID"):
        raise ConfigError(
            "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID",
            "is not set, but DATAVERSE_CLIENT_ID is: a user-assigned identity's client id goes in "
            "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID; unset DATAVERSE_CLIENT_ID to use the system-assigned identity.",
            EXAMPLE_GUID,
        )
    return replace(
        base,
        managed_identity_client_id=_guid(values, "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID", mode) if identity else None,
    )


def _require(values: _Values, name: str, mode: str, example: str) -> str:
    value = values.get(name)
    if value is None:
        raise ConfigError(name, f"is required when DATAVERSE_AUTH={mode}.", example)
    return value


def _guid(values: _Values, name: str, mode: str, *, example: str = EXAMPLE_GUID) -> str:
    value = _require(values, name, mode, example)
    if not _GUID.match(value):
        # The value is not repeated: a secret pasted into the wrong field must not reach a log.
        raise ConfigError(
            name,
            f"must be a GUID, the app's 'Application (client) ID' (the value set has {len(value)} characters).",
            example,
        )
    return value.lower()


def _tenant(values: _Values, *, confidential: bool) -> str | None:
    example = f"{EXAMPLE_GUID} (the 'Directory (tenant) ID') or contoso.onmicrosoft.com"
    value = values.get("DATAVERSE_TENANT_ID")
    if value is None:
        if confidential:
            raise ConfigError(
                "DATAVERSE_TENANT_ID", "is required for app sign-in (client_secret, certificate).", example
            )
        return None
    if not (_GUID.match(value) or (_TENANT.match(value) and ("." in value or value.lower() in _SHARED_TENANTS))):
        raise ConfigError("DATAVERSE_TENANT_ID", "must be a tenant GUID or domain (the value set is neither).", example)
    if confidential and value.lower() in _SHARED_TENANTS:
        raise ConfigError("DATAVERSE_TENANT_ID", f"cannot be {value!r} for app sign-in; use your tenant.", example)
    return value.lower()


def _username(values: _Values) -> str | None:
    value = values.get("DATAVERSE_USERNAME")
    if value is not None and not _USERNAME.match(value):
        raise ConfigError(
            "DATAVERSE_USERNAME", "must be the person's sign-in name (user principal name).", "ada@contoso.com"
        )
    return value.lower() if value else None


def _authority_host(raw: str) -> str:
    example = "https://login.microsoftonline.us"
    text = raw.strip().rstrip("/")
    try:
        parts = urlsplit(text if "://" in text else "https://" + text)
        _ = parts.port  # reading it validates it
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.path or parts.query or parts.username:
        raise ConfigError("DATAVERSE_AUTHORITY_HOST", f"must be an https host such as {example}.", example)
    return f"https://{parts.netloc.lower()}"


def default_token_cache_dir(env: Mapping[str, str], platform: str) -> str | None:
    """The per-user cache directory for this platform, from the environment; None when there is no home."""
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA")
        return f"{base}\\desktop-flows-mcp" if base else None
    home = env.get("HOME")
    if platform == "darwin":
        return f"{home}/Library/Caches/desktop-flows-mcp" if home else None
    xdg = env.get("XDG_CACHE_HOME")
    if xdg:
        return f"{xdg}/desktop-flows-mcp"
    return f"{home}/.cache/desktop-flows-mcp" if home else None


def normalise_dataverse_url(raw: str) -> str:
    """``https://org.crm.dynamics.com/api/data/v9.2/`` → ``https://org.crm.dynamics.com``; https only."""
    text = raw.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:  # an unreadable port or a broken [IPv6] host; the URL may hold a secret, so no echo
        raise ConfigError("DATAVERSE_URL", f"is not a valid URL ({error}).", EXAMPLE_URL) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("DATAVERSE_URL", f"is not an absolute URL ({raw!r}).", EXAMPLE_URL)
    if port == 0:
        raise ConfigError("DATAVERSE_URL", "has port 0; give a port from 1 to 65535, or none.", EXAMPLE_URL)
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
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"


def normalise_public_url(raw: str) -> str:
    """``DESKTOP_FLOWS_PUBLIC_URL``: https on a public DNS name (http only for loopback); no trailing slash."""
    from .callback_urls import public_url_problem

    text = raw.strip().rstrip("/")
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        host = ""
    problem = public_url_problem(text, loopback=bool(host) and is_loopback_host(host))
    if problem:
        raise ConfigError(
            "DESKTOP_FLOWS_PUBLIC_URL",
            f"{problem}; Dataverse calls back only https URLs on public DNS names (http is allowed for loopback).",
            "https://flows-mcp.contoso.com",
        )
    return text


def _is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


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
