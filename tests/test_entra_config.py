"""DESKTOP_FLOWS_HTTP_AUTH and the Entra settings: each mistake is one line naming its variable (exit 2 in the CLI),
the shared token and Entra sign-in never mix, and on_behalf_of goes only with entra."""

from __future__ import annotations

import re

import pytest

from desktop_flows_mcp.cli import main
from desktop_flows_mcp.config import ConfigError, HttpSettings, Settings
from desktop_flows_mcp.config.entra import EMULATOR_CLIENT_ID, EMULATOR_TENANT_ID

URL = "https://contoso.crm.dynamics.com"
TENANT = "00000000-1111-2222-3333-444444444444"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ENTRA = {
    "DATAVERSE_URL": URL,
    "DESKTOP_FLOWS_HTTP_AUTH": "entra",
    "DESKTOP_FLOWS_ENTRA_TENANT_ID": TENANT,
    "DESKTOP_FLOWS_ENTRA_CLIENT_ID": CLIENT.upper(),
    "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET": "very-secret-app-credential",
}
TOKEN = "a-shared-token-of-32-characters!"


def _error(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    text = str(caught.value)
    assert "\n" not in text and "very-secret-app-credential" not in text
    return text


def test_entra_reads_the_app_registration_and_chooses_on_behalf_of() -> None:
    settings = Settings.from_env(
        {**ENTRA, "DESKTOP_FLOWS_ENTRA_ALLOWED_TENANTS": f"{EMULATOR_TENANT_ID.upper()}, {TENANT}"}
    )
    entra = settings.entra
    assert entra is not None
    assert (entra.tenant_id, entra.client_id, entra.app_id_uri) == (TENANT, CLIENT, f"api://{CLIENT}")
    assert entra.tenants == (TENANT, EMULATOR_TENANT_ID)
    assert entra.scopes == (f"api://{CLIENT}/Flows.Read", f"api://{CLIENT}/Flows.Run")
    assert entra.credential == "client_secret"
    assert "very-secret-app-credential" not in repr(settings)
    assert settings.sign_in.mode == "on_behalf_of"
    assert "DESKTOP_FLOWS_HTTP_AUTH=entra" in settings.sign_in.reason


@pytest.mark.parametrize(
    ("variable", "value", "credential"),
    [
        ("DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE", "/etc/app.pem", "certificate"),
        ("DESKTOP_FLOWS_ENTRA_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/token", "federated_token"),
    ],
)
def test_a_certificate_or_a_federated_token_file_is_the_apps_credential(
    variable: str, value: str, credential: str
) -> None:
    env = {k: v for k, v in ENTRA.items() if k != "DESKTOP_FLOWS_ENTRA_CLIENT_SECRET"}
    entra = Settings.from_env({**env, variable: value}).entra
    assert entra is not None and entra.credential == credential


def test_the_app_id_uri_may_be_an_https_uri_and_loses_a_trailing_slash() -> None:
    entra = Settings.from_env({**ENTRA, "DESKTOP_FLOWS_ENTRA_APP_ID_URI": "https://flows.contoso.com/mcp/"}).entra
    assert entra is not None and entra.app_id_uri == "https://flows.contoso.com/mcp"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"DESKTOP_FLOWS_ENTRA_TENANT_ID": ""}, r"^DESKTOP_FLOWS_ENTRA_TENANT_ID: is required"),
        (
            {"DESKTOP_FLOWS_ENTRA_TENANT_ID": "contoso.onmicrosoft.com"},
            r"^DESKTOP_FLOWS_ENTRA_TENANT_ID: must be a GUID",
        ),
        ({"DESKTOP_FLOWS_ENTRA_CLIENT_ID": "very-secret-app-credential"}, r"CLIENT_ID: must be a GUID.*26 characters"),
        ({"DESKTOP_FLOWS_ENTRA_APP_ID_URI": "flows"}, r"^DESKTOP_FLOWS_ENTRA_APP_ID_URI: must be"),
        ({"DESKTOP_FLOWS_ENTRA_ALLOWED_TENANTS": "common"}, r"^DESKTOP_FLOWS_ENTRA_ALLOWED_TENANTS: must be"),
        ({"DESKTOP_FLOWS_ENTRA_CLIENT_SECRET": ""}, r"^DESKTOP_FLOWS_ENTRA_CLIENT_SECRET: is required.*CERTIFICATE"),
        ({"DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE": "/a.pem"}, r"^DESKTOP_FLOWS_ENTRA_CLIENT_CERTIFICATE: is set next"),
        ({"DESKTOP_FLOWS_HTTP_AUTH": "oauth"}, r"^DESKTOP_FLOWS_HTTP_AUTH: must be one of token, entra"),
        ({"DATAVERSE_AUTH": "device_code"}, r"^DATAVERSE_AUTH: cannot be device_code .* would act for every caller"),
        ({"DATAVERSE_AUTH": "client_secret"}, r"^DATAVERSE_AUTH: cannot be client_secret with DESKTOP_FLOWS_HTTP_AUTH"),
    ],
)
def test_each_entra_mistake_is_one_line_naming_its_variable(change: dict[str, str], expected: str) -> None:
    assert re.search(expected, _error({**ENTRA, **change}))


def test_on_behalf_of_without_entra_is_refused() -> None:
    text = _error({"DATAVERSE_URL": URL, "DATAVERSE_AUTH": "on_behalf_of"})
    assert text.startswith("DATAVERSE_AUTH: on_behalf_of acts for the person who called, so it needs")


def test_on_the_emulator_entra_defaults_to_the_demo_registration_without_a_credential() -> None:
    settings = Settings.from_env({"DESKTOP_FLOWS_HTTP_AUTH": "entra"})
    assert settings.uses_emulator and settings.entra is not None
    assert (settings.entra.tenant_id, settings.entra.client_id) == (EMULATOR_TENANT_ID, EMULATOR_CLIENT_ID)
    assert settings.entra.credential == "none"


def test_the_shared_token_and_entra_never_mix() -> None:
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_HTTP_TOKEN: is set, but DESKTOP_FLOWS_HTTP_AUTH=entra"):
        HttpSettings.from_env({"DESKTOP_FLOWS_HTTP_AUTH": "entra", "DESKTOP_FLOWS_HTTP_TOKEN": TOKEN})
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_HTTP_TOKEN: is required with DESKTOP_FLOWS_HTTP_AUTH=tok"):
        HttpSettings.from_env({"DESKTOP_FLOWS_HTTP_AUTH": "token"})
    # Entra sign-in guards a non-loopback address as a token does, and there the public URL names the server.
    listening = {"DESKTOP_FLOWS_HTTP_AUTH": "entra", "DESKTOP_FLOWS_HOST": "0.0.0.0"}
    with pytest.raises(ConfigError, match=r"^DESKTOP_FLOWS_PUBLIC_URL: is required with DESKTOP_FLOWS_HTTP_AUTH=entra"):
        HttpSettings.from_env(listening)
    public = {**listening, "DESKTOP_FLOWS_PUBLIC_URL": "https://flows.contoso.com"}
    assert HttpSettings.from_env(public).token is None


def _exit_and_line(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    for name in list(env):
        monkeypatch.setenv(name, env[name])
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return int(str(stopped.value.code)), capsys.readouterr().err.strip()


def test_the_cli_stops_with_exit_2_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _exit_and_line(
        ["--transport", "streamable-http", "--http-auth", "entra", "--http-token", TOKEN], {}, monkeypatch, capsys
    )
    assert code == 2 and "\n" not in line
    assert line.startswith("desktop-flows-mcp: --http-token: is set, but --http-auth=entra")
    code, line = _exit_and_line(["--http-auth", "entra"], {}, monkeypatch, capsys)
    assert code == 2 and line.startswith("desktop-flows-mcp: --http-auth: entra applies only to --transport streamable")


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        (["--http-token", TOKEN], {}, "(bearer token required; warning: everyone with the token shares one Dataverse"),
        (["--http-auth", "entra"], {}, f"(Entra ID sign-in required: tenant {EMULATOR_TENANT_ID}, resource api://"),
        (
            ["--http-auth", "entra", "--port", "9000"],
            {},
            f"demo sign-in: POST http://127.0.0.1:9000/{EMULATOR_TENANT_ID}/",
        ),
        ([], {}, "(loopback only, no token)"),
    ],
)
def test_the_start_up_line_says_who_may_call(
    argv: list[str],
    env: dict[str, str],
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    served: list[object] = []

    async def serve(*args: object) -> None:
        served.append(args)

    monkeypatch.setattr("desktop_flows_mcp.streamable_http.serve_http", serve)
    for name in ("DESKTOP_FLOWS_HTTP_TOKEN", "DESKTOP_FLOWS_HTTP_AUTH", "DATAVERSE_URL"):
        monkeypatch.delenv(name, raising=False)
    main(["--transport", "streamable-http", *argv])
    lines = [line for line in capsys.readouterr().err.splitlines() if "MCP on http://" in line]
    assert len(served) == 1 and len(lines) == 1 and said in lines[0]


def test_the_public_url_flag_names_the_server_for_entra_off_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[object] = []

    async def serve(*args: object) -> None:
        served.append(args)

    monkeypatch.setattr("desktop_flows_mcp.streamable_http.serve_http", serve)
    argv = ["--transport", "streamable-http", "--http-auth", "entra", "--host", "0.0.0.0"]
    main([*argv, "--public-url", "https://flows.contoso.com"])
    assert len(served) == 1 and "MCP on http://0.0.0.0:8000/mcp (Entra ID" in capsys.readouterr().err
    code, line = _exit_and_line(argv, {}, monkeypatch, capsys)
    assert code == 2 and line.startswith("desktop-flows-mcp: DESKTOP_FLOWS_PUBLIC_URL: is required with --http-auth")
