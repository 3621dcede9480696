"""How one deployment is reached and shares state: the public URL runs report back to, the replicas' Redis and
cursor key, and the HTTP transport's address, token and session cap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from .entra import read_http_auth
from .urls import PUBLIC_URL_EXAMPLE, is_loopback_host, is_loopback_url, normalise_public_url
from .values import ConfigError, EnvReader, Secret, user_folder

_REDIS_EXAMPLE = "rediss://:password@redis.internal:6380/0"
_RANDOM_SECRET_EXAMPLE = "$(openssl rand -hex 32)"
DEFAULT_MAX_SESSIONS = 100
# Kubernetes gives 30 s between SIGTERM and SIGKILL by default: 20 for calls in flight leaves time to stop.
DEFAULT_DRAIN_SECONDS = 20.0


def read_public_url(values: EnvReader) -> str | None:
    """DESKTOP_FLOWS_PUBLIC_URL, normalised; None when unset."""
    return normalise_public_url(raw) if (raw := values.get("DESKTOP_FLOWS_PUBLIC_URL")) else None


def check_public_url_reachable(public_url: str | None, dataverse_url: str) -> None:
    """A loopback public URL is refused unless Dataverse itself is on loopback (the emulator, tests)."""
    if public_url and is_loopback_url(public_url) and not is_loopback_url(dataverse_url):
        raise ConfigError(
            "DESKTOP_FLOWS_PUBLIC_URL",
            f"is a loopback address, which Dataverse at {dataverse_url} cannot reach; give the public https URL.",
            PUBLIC_URL_EXAMPLE,
        )


@dataclass(frozen=True)
class SharedOptions:
    """State the replicas of one deployment share (``shared_state``): none without a Redis URL."""

    redis_url: Secret | None = None  # redis:// or rediss://; may hold a password, so never shown
    cursor_secret: Secret | None = None  # cursors signed with a key derived from it, valid on every replica
    state_dir: str | None = None  # idempotency keys' file (without Redis); None: no home, kept in memory

    @property
    def redis_display(self) -> str | None:
        """The Redis address for start-up lines: scheme, host, port and database, never the credentials."""
        if self.redis_url is None:
            return None
        parts = urlsplit(self.redis_url.reveal())
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path or '/0'}"


def read_shared_options(values: EnvReader, env: Mapping[str, str], platform: str) -> SharedOptions:
    state_dir = values.get("DESKTOP_FLOWS_STATE_DIR") or default_state_dir(env, platform)
    return SharedOptions(_redis_url(values), _cursor_secret(values), state_dir)


def default_state_dir(env: Mapping[str, str], platform: str) -> str | None:
    """The per-user state directory for this platform, from the environment; None when there is no home."""
    return user_folder(env, platform, darwin="Library/Application Support", xdg=("XDG_STATE_HOME", ".local/state"))


def _redis_url(values: EnvReader) -> Secret | None:
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
    if parts.query:  # redis-py would pass unknown ones to its connections (a traceback) and let known ones override
        options = ", ".join(repr(key[:40]) for key, _ in parse_qsl(parts.query, keep_blank_values=True)[:5])
        raise ConfigError(
            name,
            f"takes no query options (got {options or repr(parts.query[:40])}): the server sets its own timeouts, "
            "rediss:// turns on TLS, and a password goes before the host.",
            _REDIS_EXAMPLE,
        )
    if parts.password and parts.scheme.lower() == "redis" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            name,
            "sends its password unencrypted to a host that is not loopback (the value is not shown); use rediss:// "
            "(TLS), or reach Redis on this machine.",
            _REDIS_EXAMPLE,
        )
    return Secret(raw)


def _cursor_secret(values: EnvReader) -> Secret | None:
    secret = values.get("DESKTOP_FLOWS_CURSOR_SECRET")
    if secret is not None and len(secret) < 32:
        raise ConfigError(
            "DESKTOP_FLOWS_CURSOR_SECRET",
            "must be at least 32 characters (the value is not shown).",
            _RANDOM_SECRET_EXAMPLE,
        )
    return Secret(secret) if secret else None


@dataclass(frozen=True)
class HttpSettings:
    """``--transport streamable-http``: where to listen, the bearer token, the Host names allowed, the session cap.
    Entra sign-in (DESKTOP_FLOWS_HTTP_AUTH=entra) is ``Settings.entra``: the on-behalf-of sign-in needs it too."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: Secret | None = None
    allowed_hosts: tuple[str, ...] = ()
    max_sessions: int = DEFAULT_MAX_SESSIONS
    drain_seconds: float = DEFAULT_DRAIN_SECONDS  # after SIGTERM: how long calls in flight get to finish

    @classmethod
    def from_env(cls, env: Mapping[str, str], overrides: Mapping[str, str | bool | None] | None = None) -> HttpSettings:
        values = EnvReader(env, overrides or {})
        host = values.get("DESKTOP_FLOWS_HOST") or "127.0.0.1"
        port = int(values.number("DESKTOP_FLOWS_PORT", 8000, low=0, high=65535))
        max_sessions = values.number("DESKTOP_FLOWS_HTTP_MAX_SESSIONS", DEFAULT_MAX_SESSIONS, low=1, high=100_000)
        if max_sessions != int(max_sessions):
            raise ConfigError("DESKTOP_FLOWS_HTTP_MAX_SESSIONS", "must be a whole number.", str(DEFAULT_MAX_SESSIONS))
        drain_seconds = values.number("DESKTOP_FLOWS_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS, low=0, high=3600)
        token = values.get("DESKTOP_FLOWS_HTTP_TOKEN")
        auth = read_http_auth(values)
        if token is not None and auth == "entra":
            raise ConfigError(
                "DESKTOP_FLOWS_HTTP_TOKEN",
                "is set, but DESKTOP_FLOWS_HTTP_AUTH=entra: one shared token and each person's own sign-in never mix; "
                "unset the token (or choose DESKTOP_FLOWS_HTTP_AUTH=token).",
                "(unset, with DESKTOP_FLOWS_HTTP_AUTH=entra)",
            )
        if token is None and auth == "token":
            raise ConfigError(
                "DESKTOP_FLOWS_HTTP_TOKEN", "is required with DESKTOP_FLOWS_HTTP_AUTH=token.", _RANDOM_SECRET_EXAMPLE
            )
        if token is not None and len(token) < 16:
            raise ConfigError("DESKTOP_FLOWS_HTTP_TOKEN", "must be at least 16 characters.", _RANDOM_SECRET_EXAMPLE)
        if auth == "entra" and not is_loopback_host(host) and values.get("DESKTOP_FLOWS_PUBLIC_URL") is None:
            raise ConfigError(
                "DESKTOP_FLOWS_PUBLIC_URL",
                f"is required with DESKTOP_FLOWS_HTTP_AUTH=entra to listen on {host}: clients are sent to the sign-in "
                "metadata under the URL they reach this server at, which only you know.",
                PUBLIC_URL_EXAMPLE,
            )
        if token is None and auth != "entra" and not is_loopback_host(host):
            raise ConfigError(
                "DESKTOP_FLOWS_HTTP_TOKEN",
                f"is required to listen on {host}, a non-loopback address: without it anyone who can reach the "
                "port could run desktop flows (or DESKTOP_FLOWS_HTTP_AUTH=entra: each person signs in).",
                _RANDOM_SECRET_EXAMPLE,
            )
        return cls(
            host=host,
            port=port,
            token=Secret(token) if token else None,
            allowed_hosts=values.csv("DESKTOP_FLOWS_HTTP_ALLOWED_HOSTS"),
            max_sessions=int(max_sessions),
            drain_seconds=drain_seconds,
        )
