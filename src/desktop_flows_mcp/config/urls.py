"""URLs in settings: the Dataverse environment root and the public URL, normalised; loopback hosts told apart."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .values import ConfigError

EXAMPLE_URL = "https://contoso.crm.dynamics.com"
PUBLIC_URL_EXAMPLE = "https://flows-mcp.contoso.com"


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
            PUBLIC_URL_EXAMPLE,
        )
    return text


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
