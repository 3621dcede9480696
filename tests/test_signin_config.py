"""Settings.from_env for sign-in: mode inference, required variables, and errors that name the variable."""

from __future__ import annotations

import pytest

from desktop_flows_mcp.config import ConfigError, Settings

URL = "https://contoso.crm.dynamics.com"
TENANT = "11111111-2222-3333-4444-555555555555"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def from_env(**env: str) -> Settings:
    return Settings.from_env({"DATAVERSE_URL": URL, **env}, platform="linux")


@pytest.mark.parametrize(
    ("env", "mode", "because"),
    [
        ({"DATAVERSE_ACCESS_TOKEN": "eyJ", "DATAVERSE_CLIENT_ID": APP}, "access_token", "DATAVERSE_ACCESS_TOKEN"),
        (
            {
                "DATAVERSE_CLIENT_CERTIFICATE": "/a.pem",
                "DATAVERSE_CLIENT_SECRET": "s",
                "DATAVERSE_CLIENT_ID": APP,
                "DATAVERSE_TENANT_ID": TENANT,
            },
            "certificate",
            "DATAVERSE_CLIENT_CERTIFICATE",
        ),
        (
            {"DATAVERSE_CLIENT_SECRET": "s", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TENANT_ID": TENANT},
            "client_secret",
            "DATAVERSE_CLIENT_SECRET",
        ),
        ({"DATAVERSE_MANAGED_IDENTITY_CLIENT_ID": APP}, "managed_identity", "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID"),
        ({"DATAVERSE_CLIENT_ID": APP}, "device_code", "DATAVERSE_CLIENT_ID"),
        # Placeholders an MCP host passes for empty optional fields count as unset.
        ({"DATAVERSE_CLIENT_ID": APP, "DATAVERSE_CLIENT_SECRET": "${user_config.secret}"}, "device_code", "CLIENT_ID"),
    ],
)
def test_the_mode_is_inferred_from_what_is_configured_and_the_reason_is_kept(
    env: dict[str, str], mode: str, because: str
) -> None:
    settings = from_env(**env)

    assert settings.sign_in.mode == mode
    assert because in (settings.sign_in.reason or "")


def test_an_explicit_mode_wins_over_other_modes_variables_and_secrets_never_print() -> None:
    settings = from_env(
        DATAVERSE_AUTH="device_code",
        DATAVERSE_CLIENT_SECRET="hunter2",
        DATAVERSE_CLIENT_ID=APP.upper(),
        DATAVERSE_TENANT_ID=TENANT,
    )

    assert (settings.sign_in.mode, settings.sign_in.reason, settings.sign_in.client_id) == (
        "device_code",
        "DATAVERSE_AUTH=device_code; DATAVERSE_CLIENT_SECRET is ignored",
        APP,
    )
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        (
            {"DATAVERSE_AUTH": "client_secret", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TENANT_ID": TENANT},
            "DATAVERSE_CLIENT_SECRET",
        ),
        (
            {"DATAVERSE_AUTH": "client_secret", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_CLIENT_SECRET": "s"},
            "DATAVERSE_TENANT_ID",
        ),
        (
            {
                "DATAVERSE_AUTH": "client_secret",
                "DATAVERSE_CLIENT_ID": APP,
                "DATAVERSE_CLIENT_SECRET": "s",
                "DATAVERSE_TENANT_ID": "common",
            },
            "DATAVERSE_TENANT_ID",
        ),
        (
            {"DATAVERSE_AUTH": "certificate", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TENANT_ID": TENANT},
            "DATAVERSE_CLIENT_CERTIFICATE",
        ),
        ({"DATAVERSE_AUTH": "device_code"}, "DATAVERSE_CLIENT_ID"),
        ({"DATAVERSE_AUTH": "interactive", "DATAVERSE_CLIENT_ID": "my-app"}, "DATAVERSE_CLIENT_ID"),
        (
            {"DATAVERSE_AUTH": "device_code", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TENANT_ID": "not a tenant"},
            "DATAVERSE_TENANT_ID",
        ),
        ({"DATAVERSE_AUTH": "managed_identity", "DATAVERSE_CLIENT_ID": APP}, "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID"),
        ({"DATAVERSE_AUTH": "kerberos"}, "DATAVERSE_AUTH"),
        ({}, "DATAVERSE_AUTH"),
        ({"DATAVERSE_CLIENT_ID": APP, "DATAVERSE_AUTHORITY_HOST": "http://login.example"}, "DATAVERSE_AUTHORITY_HOST"),
        (
            {"DATAVERSE_CLIENT_ID": APP, "DATAVERSE_AUTHORITY_HOST": "https://login.example:x"},
            "DATAVERSE_AUTHORITY_HOST",
        ),
    ],
)
def test_config_errors_name_the_variable_with_an_example(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_env(**env)

    assert caught.value.variable == variable
    assert f"Example: {variable}=" in str(caught.value)


def test_credentials_without_an_environment_url_are_a_mistake_not_the_emulator() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATAVERSE_CLIENT_ID": APP})

    assert caught.value.variable == "DATAVERSE_URL"


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"HOME": "/home/ada"}, "/home/ada/.cache/desktop-flows-mcp"),
        ("linux", {"HOME": "/home/ada", "XDG_CACHE_HOME": "/xdg"}, "/xdg/desktop-flows-mcp"),
        ("darwin", {"HOME": "/Users/ada"}, "/Users/ada/Library/Caches/desktop-flows-mcp"),
        (
            "win32",
            {"LOCALAPPDATA": "C:\\Users\\ada\\AppData\\Local"},
            "C:\\Users\\ada\\AppData\\Local\\desktop-flows-mcp",
        ),
        ("linux", {}, None),
    ],
)
def test_the_token_cache_lives_in_the_per_user_cache_directory(
    platform: str, env: dict[str, str], expected: str | None
) -> None:
    settings = Settings.from_env({"DATAVERSE_URL": URL, "DATAVERSE_CLIENT_ID": APP, **env}, platform=platform)

    assert settings.sign_in.token_cache_dir == expected
    assert settings.sign_in.token_cache_plaintext is False


def test_the_authority_host_override_is_normalised() -> None:
    settings = from_env(DATAVERSE_CLIENT_ID=APP, DATAVERSE_AUTHORITY_HOST="login.microsoftonline.us/")

    assert settings.sign_in.authority_host == "https://login.microsoftonline.us"


@pytest.mark.parametrize(
    "credential",
    [
        {"DATAVERSE_CLIENT_SECRET": "Abc8Q~secret", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TENANT_ID": TENANT},
        {"DATAVERSE_CLIENT_CERTIFICATE": "/a.pem", "DATAVERSE_CLIENT_ID": APP, "DATAVERSE_TENANT_ID": TENANT},
        {"DATAVERSE_MANAGED_IDENTITY_CLIENT_ID": APP},
    ],
    ids=["secret", "certificate", "managed-identity"],
)
@pytest.mark.parametrize("explicit", [None, "access_token", "app mode"])
def test_an_access_token_next_to_app_credentials_is_a_start_up_error_not_a_silent_choice(
    credential: dict[str, str], explicit: str | None
) -> None:
    """Even when DATAVERSE_AUTH names one of them: two identities for one server are never chosen between."""
    variable = next(iter(credential))
    modes = {
        "DATAVERSE_CLIENT_SECRET": "client_secret",
        "DATAVERSE_CLIENT_CERTIFICATE": "certificate",
        "DATAVERSE_MANAGED_IDENTITY_CLIENT_ID": "managed_identity",
    }
    auth = {} if explicit is None else {"DATAVERSE_AUTH": modes[variable] if explicit == "app mode" else explicit}
    with pytest.raises(ConfigError) as caught:
        from_env(DATAVERSE_ACCESS_TOKEN="eyJ-secret-token", **credential, **auth)

    assert caught.value.variable == "DATAVERSE_ACCESS_TOKEN"
    assert f"DATAVERSE_ACCESS_TOKEN: is set next to {variable}" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "eyJ-secret-token" not in str(caught.value) and credential[variable] not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "mode"),
    [
        ("DATAVERSE_CLIENT_ID", "device_code"),
        ("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID", "managed_identity"),
        ("DATAVERSE_TENANT_ID", "device_code"),
    ],
)
def test_a_malformed_id_is_refused_without_repeating_it(variable: str, mode: str) -> None:
    pasted_secret = "Abc8Q~not-an-id-but-a-client-secret"
    env = {"DATAVERSE_AUTH": mode, variable: pasted_secret}
    if variable == "DATAVERSE_TENANT_ID":
        env["DATAVERSE_CLIENT_ID"] = APP

    with pytest.raises(ConfigError) as caught:
        from_env(**env)

    assert caught.value.variable == variable
    assert pasted_secret not in str(caught.value)


def test_the_person_to_sign_in_as_is_read_for_person_modes() -> None:
    settings = from_env(DATAVERSE_CLIENT_ID=APP, DATAVERSE_USERNAME="Ada@Contoso.com")

    assert (settings.sign_in.mode, settings.sign_in.username) == ("device_code", "ada@contoso.com")
    with pytest.raises(ConfigError) as caught:
        from_env(DATAVERSE_CLIENT_ID=APP, DATAVERSE_USERNAME="ada")
    assert caught.value.variable == "DATAVERSE_USERNAME"


def test_a_malformed_managed_identity_client_id_is_called_the_identitys_id_not_an_apps() -> None:
    with pytest.raises(ConfigError) as caught:
        from_env(DATAVERSE_AUTH="managed_identity", DATAVERSE_MANAGED_IDENTITY_CLIENT_ID="my-identity")

    assert "user-assigned identity's 'Client ID'" in str(caught.value)
    assert "Application (client) ID" not in str(caught.value) and "my-identity" not in str(caught.value)
