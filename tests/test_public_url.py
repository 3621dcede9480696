"""DESKTOP_FLOWS_PUBLIC_URL / --public-url: where Dataverse reaches this deployment, checked before start-up."""

from __future__ import annotations

import pytest

from desktop_flows_mcp.cli import _parser, settings_from  # pyright: ignore[reportPrivateUsage]
from desktop_flows_mcp.config import ConfigError, Settings
from tests.processes import run_cli


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://flows-mcp.contoso.com/", "https://flows-mcp.contoso.com"),
        ("  https://flows-mcp.contoso.com/desktop-flows  ", "https://flows-mcp.contoso.com/desktop-flows"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_a_public_url_is_https_on_a_dns_name_or_loopback(raw: str, expected: str) -> None:
    assert Settings.from_env({"DESKTOP_FLOWS_PUBLIC_URL": raw}).public_url == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("http://flows-mcp.contoso.com", "must use https"),
        ("https://20.50.2.1", "not localhost or an IP address"),
        ("https://intranet", "fully qualified DNS name"),
        ("https://flows-mcp.contoso.com/?key=1", "query or a fragment"),
        ("https://user:pw@flows-mcp.contoso.com", "credentials"),
        ("http://user:pw@127.0.0.1:8000", "credentials"),
        ("https://flows-mcp.contoso.com:99999", "not a valid URL"),
        ("ftp://127.0.0.1", "must use https"),
        ("https://flows-mcp.contoso.com/" + "a" * 2000, "longer than"),
    ],
)
def test_a_public_url_dataverse_would_refuse_stops_start_up_naming_the_variable(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_PUBLIC_URL: ") as raised:
        Settings.from_env({"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t",
                           "DESKTOP_FLOWS_PUBLIC_URL": raw})  # fmt: skip
    assert problem in str(raised.value)


def test_a_loopback_public_url_needs_a_dataverse_on_loopback_too() -> None:
    real = {"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t"}
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_PUBLIC_URL: is a loopback address, which Dataverse at "):
        Settings.from_env({**real, "DESKTOP_FLOWS_PUBLIC_URL": "http://127.0.0.1:8000"})
    local = {**real, "DATAVERSE_URL": "http://127.0.0.1:8080", "DESKTOP_FLOWS_PUBLIC_URL": "http://127.0.0.1:8000"}
    assert Settings.from_env(local).public_url == "http://127.0.0.1:8000"


def test_without_the_setting_runs_do_not_report_back() -> None:
    assert Settings.from_env({}).public_url is None


def test_the_flag_wins_over_the_environment() -> None:
    args = _parser().parse_args(["--transport", "streamable-http", "--public-url", "https://flows-mcp.contoso.com"])
    settings = settings_from(args, {"DESKTOP_FLOWS_PUBLIC_URL": "https://other.contoso.com"})
    assert settings.public_url == "https://flows-mcp.contoso.com"


@pytest.mark.slow
def test_with_stdio_the_server_refuses_to_start_in_one_line() -> None:
    result = run_cli("--emulator", env={"DESKTOP_FLOWS_PUBLIC_URL": "https://flows-mcp.contoso.com"})
    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "desktop-flows-mcp: DESKTOP_FLOWS_PUBLIC_URL: applies only to --transport streamable-http"
    )
