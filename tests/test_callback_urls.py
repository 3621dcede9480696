"""callback_url: https on a public DNS name; every other spelling of an address or a local host is refused."""

from __future__ import annotations

import pytest

from desktop_flows_mcp.config.callback_urls import check_callback_url
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode

IP = "not localhost or an IP address"
INVALID_HOST = "not a valid DNS name"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.contoso.com/flows/done",
        "https://HOOKS.Contoso.COM:8443/flows/done?run=1#x",
        "https://hooks.contoso.com./flows/done",  # one trailing dot is the same name
        "https://bücher.example/hook",  # IDNA: xn--bcher-kva.example
        "https://a-1.b2.contoso.com/",
        "https://127-0-0-1.contoso.com/",
        "https://10.contoso.com/",  # a number is fine as a label, not as the last one
        "https://localhost.contoso.com/",
    ],
)
def test_https_urls_on_public_dns_names_pass(url: str) -> None:
    check_callback_url(url)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        # IPv4 in every notation inet_aton accepts, and names the URL standard reads as IPv4
        ("https://127.0.0.1/x", IP),
        ("https://127.1/x", IP),
        ("https://127.0.1/x", IP),
        ("https://0x7f.0.0.1/x", IP),
        ("https://0x7F000001/x", IP),
        ("https://2130706433/x", IP),
        ("https://017700000001/x", IP),
        ("https://0177.0.0.1/x", IP),
        ("https://0/x", IP),
        ("https://8.8.8.8/x", IP),
        ("https://8.8.8.8./x", IP),
        ("https://１２７．０．０．１/x", IP),  # fullwidth digits and dots map to ASCII
        ("https://hooks.contoso.0x1/x", IP),
        ("https://hooks.contoso.123/x", IP),
        # IPv6 in any form
        ("https://[::1]/x", IP),
        ("https://[0:0:0:0:0:0:0:1]:443/x", IP),
        ("https://[::ffff:127.0.0.1]/x", IP),
        ("https://[::ffff:7f00:1]/x", IP),
        ("https://[fe80::1%25eth0]/x", IP),
        ("https://[2001:db8::1]/x", IP),
        # loopback and local names, after IDNA and trailing-dot normalisation
        ("https://localhost/x", IP),
        ("https://LOCALHOST/x", IP),
        ("https://localhost./x", IP),
        ("https://api.localhost/x", IP),
        ("https://api.localhost./x", IP),
        ("https://ｌｏｃａｌｈｏｓｔ/x", IP),
        ("https://localhost.localdomain/x", IP),
        ("https://printer.local/x", IP),
        ("https://svc.internal/x", IP),
        ("https://nas.home.arpa/x", IP),
        ("https://1.0.0.127.in-addr.arpa/x", IP),
        # what parsers read differently
        ("https://127.0.0.1\\.contoso.com/x", "backslashes"),
        ("https://hooks.con\ttoso.com/x", "control characters"),
        (" https://hooks.contoso.com/x", "spaces"),
        ("https://127%2e0%2e0%2e1/x", INVALID_HOST),
        ("https://hooks_1.contoso.com/x", INVALID_HOST),
        ("https://-hooks.contoso.com/x", INVALID_HOST),
        ("https://hooks..contoso.com/x", INVALID_HOST),
        ("https://" + "a" * 64 + ".contoso.com/x", INVALID_HOST),
        # everything else
        ("https://hooks/x", "fully qualified"),
        ("http://hooks.contoso.com/x", "must use https"),
        ("ftp://hooks.contoso.com/x", "must use https"),
        ("hooks.contoso.com/x", "must use https"),
        ("https:///x", "has no host"),
        ("https://user:pw@hooks.contoso.com/x", "credentials"),
        ("https://@hooks.contoso.com/x", "credentials"),
        ("https://hooks.contoso.com:99999/x", "not a valid URL"),
        ("https://hooks.contoso.com:http/x", "not a valid URL"),
        ("https://[::1/x", "not a valid URL"),
        ("https://hooks.contoso.com/" + "x" * 2000, "longer than 2000"),
    ],
)
def test_other_hosts_and_forms_are_refused_with_the_reason(url: str, fragment: str) -> None:
    with pytest.raises(DesktopFlowsError) as raised:
        check_callback_url(url)
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert fragment in raised.value.message
    assert raised.value.message.startswith("callback_url ")
    assert "wait_for_desktop_flow_run" in (raised.value.hint or "")


def test_the_message_says_how_an_odd_spelling_was_read() -> None:
    with pytest.raises(DesktopFlowsError, match=r"'0x7f\.1' is read as an IPv4 address"):
        check_callback_url("https://0x7f.1/hook")
