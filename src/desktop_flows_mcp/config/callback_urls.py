"""The ``callback_url`` of a run: Dataverse POSTs to it from the cloud, so it must name a public host.

The host is judged the way a resolver or browser would read it, after IDNA mapping (``ＬＯＣＡＬＨＯＳＴ`` is
``localhost``, fullwidth digits and dots are ASCII ones) and without one trailing dot:

| refused                                  | examples                                                   |
|------------------------------------------|------------------------------------------------------------|
| not https, no host, credentials          | ``http://…``, ``https:///x``, ``https://user:pw@host/``     |
| spaces, control characters, backslashes  | parsers disagree on these (``https://1.2.3.4\\.contoso.com``) |
| any IPv6 literal                         | ``[::1]``, ``[::ffff:127.0.0.1]``, ``[fe80::1%25eth0]``     |
| any IPv4 form ``inet_aton`` accepts      | ``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``017700000001`` |
| a name ending in a number (read as IPv4) | ``foo.0x1``, ``a.b.123``                                    |
| loopback and local-only names            | ``localhost``, ``x.localhost``, ``localhost.``, ``.local``  |
| anything but letters, digits and hyphens | ``host_name.com``, ``%31.example.com``                      |
| a single label                           | ``https://intranet/hook``                                   |

Names are not resolved: a public name that points at a private address is the receiver's business.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import SplitResult, urlsplit

from ..errors import invalid_argument

MAX_LENGTH = 2000
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")  # the WHATWG URL rule: a last label like this makes an IPv4 host
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # urlsplit drops tabs and newlines silently; others read "\" as "/"
# Special-use names that never reach a public host (RFC 6761, 6762, 8375; ICANN's .internal).
_LOCAL_SUFFIXES = ("localhost", "localdomain", "local", "internal", "home.arpa", "invalid", "in-addr.arpa", "ip6.arpa")

_HINT = (
    "Pass an https URL on a public DNS name, e.g. https://hooks.contoso.com/flows/done, or omit callback_url and "
    "use wait_for_desktop_flow_run."
)


def check_callback_url(url: str) -> None:
    """Raise ``invalid_argument`` unless ``url`` is https on a fully qualified public DNS name."""
    problem = _problem(url)
    if problem:
        raise invalid_argument(f"callback_url {problem} (Dataverse only calls https URLs on named hosts).", _HINT)


def public_url_problem(url: str, *, loopback: bool) -> str | None:
    """What is wrong with ``DESKTOP_FLOWS_PUBLIC_URL`` as a base for callback URLs, or None.

    Dataverse's rules, except that a ``loopback`` host (tests, a proxy on this machine) may use http or https.
    """
    if len(url) > MAX_LENGTH - 100:
        return f"is longer than {MAX_LENGTH - 100} characters (callback URLs add about 100)"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.query or parts.fragment:
        return "must not contain a query or a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if loopback and parts.scheme in ("http", "https") and not _UNSAFE.search(url):
        return None
    return _problem(url)


def _problem(url: str) -> str | None:
    if len(url) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if _UNSAFE.search(url):
        return "must not contain spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading it validates it
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https":
        return "must use https"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    return _host_problem(parts)


def _host_problem(parts: SplitResult) -> str | None:
    raw = parts.netloc.rpartition("@")[2]
    if raw.startswith("["):
        return "must use a DNS name, not localhost or an IP address (an IPv6 address was given)"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    host = host.removesuffix(".")
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return f"has a host that is not a valid DNS name ({host!r})"
    labels = ascii_host.split(".")
    if _is_ipv4(ascii_host) or _NUMBER.match(labels[-1]):
        return f"must use a DNS name, not localhost or an IP address ({host!r} is read as an IPv4 address)"
    if any(ascii_host == s or ascii_host.endswith("." + s) for s in _LOCAL_SUFFIXES):
        return f"must use a public DNS name, not localhost or an IP address ({host!r} is a local name)"
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        return f"has a host that is not a valid DNS name ({host!r}: letters, digits and hyphens only)"
    if len(labels) < 2:
        return "must use a fully qualified DNS name"
    return None


def _is_ipv4(host: str) -> bool:
    """True for every spelling the C library reads as an IPv4 address (``127.1``, ``0x7f.1``, ``2130706433``)."""
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return False
    return True
