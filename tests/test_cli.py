"""The console script as a person meets it: start-up lines, config errors, and what start-up imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from desktop_flows_mcp.cli import _parser, settings_from  # pyright: ignore[reportPrivateUsage]
from tests.processes import console_script, run_cli


@pytest.mark.slow
def test_a_bad_setting_stops_start_up_with_one_line_naming_the_variable() -> None:
    result = run_cli(env={"DATAVERSE_URL": "http://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "x"})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("desktop-flows-mcp: DATAVERSE_URL: must use https")
    assert "Example: DATAVERSE_URL=https://contoso.crm.dynamics.com" in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("url", ["https://contoso.crm.dynamics.com:99999", "https://[contoso.crm.dynamics.com"])
def test_an_unreadable_dataverse_url_is_one_line_and_exit_code_2_not_a_traceback(url: str) -> None:
    result = run_cli("--dataverse-url", url, env={"DATAVERSE_ACCESS_TOKEN": "x"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("desktop-flows-mcp: --dataverse-url: is not a valid URL (")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_http_session_cap_flag_is_read_and_checked() -> None:
    result = run_cli("--emulator", "--transport", "streamable-http", "--http-max-sessions", "0")
    assert result.returncode == 2
    assert result.stderr.startswith("desktop-flows-mcp: --http-max-sessions: must be a number from 1 to")


@pytest.mark.slow
def test_without_a_tenant_the_server_says_it_serves_the_emulator_and_keeps_stdout_clean() -> None:
    result = run_cli()  # stdin is empty, so the stdio server ends at once
    assert "serving the built-in Dataverse emulator" in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_a_token_given_on_the_command_line_never_reaches_the_output() -> None:
    result = run_cli("--dataverse-url", "https://contoso.crm.dynamics.com", "--access-token", "tok-very-secret")
    assert "Dataverse https://contoso.crm.dynamics.com, sign-in access_token" in result.stderr
    assert "tok-very-secret" not in result.stderr + result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "env",
    [{}, {"DATAVERSE_URL": "https://contoso.crm.dynamics.com", "DATAVERSE_ACCESS_TOKEN": "t"}],
    ids=["emulator", "access_token"],
)
def test_start_up_imports_nothing_the_mode_does_not_use(env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from desktop_flows_mcp.cli import _parser, settings_from\n"
        "from desktop_flows_mcp.app import App\n"
        "from desktop_flows_mcp.server import build_server\n"
        f"build_server(App(settings_from(_parser().parse_args([]), {env!r})))\n"
        "print(sorted(m for m in ('msal', 'jsonschema', 'redis', 'httpx', 'httpcore', 'desktop_flows_mcp.emulator', "
        "'desktop_flows_mcp.streamable_http', 'desktop_flows_mcp.doctor', 'desktop_flows_mcp.diagnosis.service', "
        "'desktop_flows_mcp.knowledge.error_codes', 'desktop_flows_mcp.dataverse', 'desktop_flows_mcp.runs', "
        "'desktop_flows_mcp.flows') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_served_app_builds_its_network_stack_on_the_first_dataverse_request_not_at_start_up() -> None:
    code = (
        "import sys, anyio\n"
        "from desktop_flows_mcp.app import App\n"
        "from desktop_flows_mcp.config import Settings\n"
        "async def main():\n"
        "    env = {'DATAVERSE_URL': 'https://contoso.crm.dynamics.com', 'DATAVERSE_ACCESS_TOKEN': 't'}\n"
        "    async with App(Settings.from_env(env)).running():\n"
        "        print(sorted(m for m in ('httpcore', 'certifi') if m in sys.modules))\n"
        "anyio.run(main)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--emulater"], "desktop-flows-mcp: unknown flag --emulater; did you mean --emulator?"),
        (["doctor", "--jsn"], "desktop-flows-mcp: unknown flag --jsn; did you mean --json?"),
        (["--read-only=yes", "--flowtools"], "desktop-flows-mcp: unknown flag --flowtools; did you mean --flow-tools?"),
        (
            ["docter"],
            "desktop-flows-mcp: argument command: invalid choice: 'docter' (choose from 'emulator', "
            "'doctor'); did you mean 'doctor'?",
        ),
    ],
)
def test_a_mistyped_flag_or_command_is_one_line_with_the_closest_one_and_exit_code_2(
    args: list[str], line: str
) -> None:
    result = run_cli(*args)
    assert (result.returncode, result.stdout) == (2, "")
    [said] = result.stderr.strip().splitlines()
    assert said.startswith(line)


@pytest.mark.parametrize(
    ("flag", "env", "read_only"),
    [
        ("--read-only=yes", {}, True),
        ("--read-only=off", {"DESKTOP_FLOWS_READ_ONLY": "true"}, False),
        ("--read-only", {}, True),
        (None, {"DESKTOP_FLOWS_READ_ONLY": "on"}, True),
    ],
)
def test_a_switch_takes_exactly_what_its_variable_takes_and_wins_over_it(
    flag: str | None, env: dict[str, str], read_only: bool
) -> None:
    args = _parser().parse_args([flag] if flag else [])
    assert settings_from(args, env).run.read_only is read_only


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--read-only=maybe"], {}, "--read-only: must be true or false (got 'maybe'). Example: --read-only=true"),
        ([], {"DESKTOP_FLOWS_READ_ONLY": "maybe"}, "DESKTOP_FLOWS_READ_ONLY: must be true or false (got 'maybe')."),
        (["--poll-seconds", "99"], {}, "--poll-seconds: must be a number from 0 to 60 (got '99')."),
        (["--flow-tools"], {}, "DESKTOP_FLOWS_ALLOWED: must name the flows when --flow-tools is on"),
    ],
)
def test_a_setting_error_names_what_the_user_typed_the_flag_or_the_variable(
    args: list[str], env: dict[str, str], said: str
) -> None:
    result = run_cli("--emulator", *args, env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("desktop-flows-mcp: " + said)


@pytest.mark.slow
def test_the_version_flag_prints_the_package_version() -> None:
    from desktop_flows_mcp import __version__

    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"desktop-flows-mcp {__version__}")


@pytest.mark.slow
def test_at_start_up_an_allow_list_entry_that_matches_no_flow_is_named_on_stderr_with_the_closest_name() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))}
    allowed = "Enter invoice into legacy ERP,SAP vendor lookup"
    with subprocess.Popen(
        [console_script(), "--emulator", "--allowed", allowed],
        env=clean,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdin is not None and server.stderr is not None
        lines = [server.stderr.readline() for _ in range(3)]  # blocks until the server writes; stdin stays open
        server.stdin.close()
        server.wait(timeout=30)
    assert lines[0].startswith("desktop-flows-mcp: --emulator was given: serving the built-in Dataverse emulator")
    assert lines[1].startswith("desktop-flows-mcp: DESKTOP_FLOWS_CONNECTION is not set")
    warning = lines[2].rstrip().split(" WARNING ", 1)[1]
    assert warning == (
        "desktop_flows_mcp: DESKTOP_FLOWS_ALLOWED: 'Enter invoice into legacy ERP' matches no published desktop "
        "flow; did you mean 'Enter invoices into legacy ERP'? Such an entry allows nothing: give the flow's exact "
        "name or its id."
    )
