"""The command line mirrors the sign-in variables and stops early on a bad certificate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_flows_mcp.cli import _parser, _start_up_token_provider, settings_from  # pyright: ignore[reportPrivateUsage]

APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "11111111-2222-3333-4444-555555555555"


def test_sign_in_flags_override_the_environment() -> None:
    args = _parser().parse_args(
        [
            "--dataverse-url",
            "https://contoso.crm.dynamics.com",
            "--client-id",
            APP,
            "--tenant-id",
            TENANT,
            "--client-secret",
            "from-flag",
            "--token-cache-plaintext",
        ]
    )
    person = _parser().parse_args(
        ["--dataverse-url", "https://contoso.crm.dynamics.com", "--client-id", APP, "--username", "ada@contoso.com"]
    )

    settings = settings_from(args, {"DATAVERSE_CLIENT_SECRET": "from-env", "HOME": "/home/ada"})

    assert (settings.sign_in.mode, settings.sign_in.tenant_id, settings.sign_in.client_id) == (
        "client_secret",
        TENANT,
        APP,
    )
    assert settings.sign_in.client_secret is not None and settings.sign_in.client_secret.reveal() == "from-flag"
    assert settings_from(person, {"DATAVERSE_USERNAME": "grace@contoso.com"}).sign_in.username == "ada@contoso.com"


def test_a_certificate_that_does_not_open_stops_start_up_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "app.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    args = _parser().parse_args(
        [
            "--dataverse-url",
            "https://contoso.crm.dynamics.com",
            "--client-id",
            APP,
            "--tenant-id",
            TENANT,
            "--client-certificate",
            str(broken),
        ]
    )

    with pytest.raises(SystemExit) as stopped:
        _start_up_token_provider(settings_from(args, {}))

    assert stopped.value.code == 2
    assert "DATAVERSE_CLIENT_CERTIFICATE" in capsys.readouterr().err


class _Built(Exception):
    """Stops ``main`` once it has built the server, before it serves anything."""


@pytest.mark.parametrize(("transport", "offered"), [("stdio", True), ("streamable-http", False)])
def test_only_the_stdio_server_offers_sign_in_prompts_through_the_client(
    transport: str, offered: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local stdio server serves one person; over HTTP whoever answered would sign the server in as themselves."""
    import desktop_flows_mcp.server
    from desktop_flows_mcp.app import App
    from desktop_flows_mcp.cli import main

    seen: dict[str, object] = {}

    def build_server(app: App, **_: object) -> None:
        seen["offer_sign_in_prompts"] = app.offer_sign_in_prompts
        raise _Built

    for name in [n for n in os.environ if n.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(desktop_flows_mcp.server, "build_server", build_server)
    monkeypatch.setenv("DATAVERSE_TOKEN_CACHE_DIR", str(tmp_path))

    with pytest.raises(_Built):
        main(["--dataverse-url", "https://contoso.crm.dynamics.com", "--client-id", APP, "--transport", transport])

    assert seen["offer_sign_in_prompts"] is offered


def test_a_sign_in_mistake_found_at_start_up_is_the_only_line_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop_flows_mcp.cli import main

    broken = tmp_path / "app.pem"
    broken.write_bytes(b"\x00 not a certificate")
    for name in [n for n in os.environ if n.startswith(("DATAVERSE_", "DESKTOP_FLOWS_"))]:
        monkeypatch.delenv(name)

    with pytest.raises(SystemExit) as stopped:
        main(
            [
                *("--dataverse-url", "https://contoso.crm.dynamics.com", "--client-id", APP, "--tenant-id", TENANT),
                *("--client-certificate", str(broken)),
            ]
        )

    lines = capsys.readouterr().err.splitlines()
    assert stopped.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("desktop-flows-mcp: DATAVERSE_CLIENT_CERTIFICATE: ")
