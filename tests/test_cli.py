"""The console script as a person meets it: start-up lines, config errors, and what start-up imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.test_stdio_against_emulator import console_script


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    return subprocess.run(
        [console_script(), *args],
        env={**clean, **(env or {})},
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_setting_stops_start_up_with_one_line_naming_the_variable() -> None:
    result = run_cli(env={"DATAVERSE_URL": "http://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "x"})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("desktop-flows-mcp: DATAVERSE_URL: must use https")
    assert "Example: DATAVERSE_URL=https://contoso.crm.dynamics.com" in lines[0]


@pytest.mark.parametrize("url", ["https://contoso.crm.dynamics.com:99999", "https://[contoso.crm.dynamics.com"])
def test_an_unreadable_dataverse_url_is_one_line_and_exit_code_2_not_a_traceback(url: str) -> None:
    result = run_cli("--dataverse-url", url, env={"DATAVERSE_ACCESS_TOKEN": "x"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("desktop-flows-mcp: DATAVERSE_URL: is not a valid URL (")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_http_session_cap_flag_is_read_and_checked() -> None:
    result = run_cli("--emulator", "--transport", "streamable-http", "--http-max-sessions", "0")
    assert result.returncode == 2
    assert result.stderr.startswith("desktop-flows-mcp: DESKTOP_FLOWS_HTTP_MAX_SESSIONS: must be a number from 1 to")


def test_without_a_tenant_the_server_says_it_serves_the_emulator_and_keeps_stdout_clean() -> None:
    result = run_cli()  # stdin is empty, so the stdio server ends at once
    assert "serving the built-in Dataverse emulator" in result.stderr
    assert result.stdout == ""


def test_a_token_given_on_the_command_line_never_reaches_the_output() -> None:
    result = run_cli("--dataverse-url", "https://contoso.crm.dynamics.com", "--access-token", "tok-very-secret")
    assert "Dataverse https://contoso.crm.dynamics.com, sign-in access_token" in result.stderr
    assert "tok-very-secret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "env",
    [{}, {"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t"}],
    ids=["emulator", "access_token"],
)
def test_start_up_without_msal_sign_in_imports_neither_msal_nor_json_schema_validation(env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from desktop_flows_mcp.cli import _parser, settings_from\n"
        "from desktop_flows_mcp.app import App\n"
        "from desktop_flows_mcp.server import build_server\n"
        f"build_server(App(settings_from(_parser().parse_args([]), {env!r})))\n"
        "print(sorted(m for m in ('msal', 'jsonschema', 'desktop_flows_mcp.emulator', "
        "'desktop_flows_mcp.streamable_http') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_an_access_token_next_to_a_client_secret_stops_start_up_even_with_an_explicit_mode() -> None:
    result = run_cli(
        env={
            "DATAVERSE_URL": "https://contoso.crm.dynamics.com",
            "DATAVERSE_AUTH": "client_secret",
            "DATAVERSE_ACCESS_TOKEN": "eyJ-a-persons-token",
            "DATAVERSE_CLIENT_SECRET": "Abc8Q~the-apps-secret",
            "DATAVERSE_CLIENT_ID": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "DATAVERSE_TENANT_ID": "11111111-2222-3333-4444-555555555555",
        }
    )
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("desktop-flows-mcp: DATAVERSE_ACCESS_TOKEN: is set next to DATAVERSE_CLIENT_SECRET")
    assert "eyJ-a-persons-token" not in line and "Abc8Q~the-apps-secret" not in line
