from __future__ import annotations

import pytest

from desktop_flows_mcp.config import ConfigError, Settings
from desktop_flows_mcp.config.urls import normalise_dataverse_url

URL = "https://contoso.crm.dynamics.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://contoso.crm.dynamics.com", URL),
        ("https://contoso.crm.dynamics.com/", URL),
        ("  https://Contoso.CRM.dynamics.com/api/data/v9.2/ ", URL),
        ("https://contoso.crm4.dynamics.com/api/data/v9.2", "https://contoso.crm4.dynamics.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:5555/api/data/v9.2", "http://localhost:5555"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_dataverse_url_is_normalised_to_the_environment_root(raw: str, expected: str) -> None:
    assert normalise_dataverse_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://contoso.crm.dynamics.com",
        "contoso.crm.dynamics.com",
        "https://contoso.crm.dynamics.com/main.aspx",
        "https://user:pw@contoso.crm.dynamics.com",
        "https://contoso.crm.dynamics.com/?x=1",
        "http://10.0.0.5",
        "https://contoso.crm.dynamics.com:99999",
        "https://contoso.crm.dynamics.com:https",
        "https://contoso.crm.dynamics.com:0",
        "https://[contoso.crm.dynamics.com",
        "http://[::1:8080",
    ],
)
def test_bad_dataverse_url_stops_start_up_naming_the_variable_with_an_example(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATAVERSE_URL": raw, "DATAVERSE_ACCESS_TOKEN": "t"})
    text = str(caught.value)
    assert text.startswith("DATAVERSE_URL: ")
    assert "Example: DATAVERSE_URL=https://contoso.crm.dynamics.com" in text
    assert "\n" not in text


def test_access_token_mode_is_inferred_from_a_token() -> None:
    settings = Settings.from_env({"DATAVERSE_URL": URL, "DATAVERSE_ACCESS_TOKEN": "abc"})
    assert settings.sign_in.mode == "access_token"
    assert settings.sign_in.access_token is not None and settings.sign_in.access_token.reveal() == "abc"


def test_secret_never_shows_in_repr() -> None:
    settings = Settings.from_env({"DATAVERSE_URL": URL, "DATAVERSE_ACCESS_TOKEN": "very-secret-token"})
    assert "very-secret-token" not in repr(settings)
    assert "very-secret-token" not in str(settings)


def test_missing_token_for_access_token_mode_names_the_token_variable() -> None:
    with pytest.raises(ConfigError, match=r"^DATAVERSE_ACCESS_TOKEN: is required"):
        Settings.from_env({"DATAVERSE_URL": URL, "DATAVERSE_AUTH": "access_token"})


def test_no_url_and_no_credentials_means_the_built_in_emulator() -> None:
    settings = Settings.from_env({})
    assert settings.uses_emulator
    assert settings.sign_in.reason == "DATAVERSE_URL is not set"


def test_credentials_without_a_url_are_an_error_not_a_silent_emulator() -> None:
    with pytest.raises(ConfigError, match=r"^DATAVERSE_URL: is not set, but DATAVERSE_ACCESS_TOKEN is"):
        Settings.from_env({"DATAVERSE_ACCESS_TOKEN": "abc"})


@pytest.mark.parametrize("placeholder", ["", "   ", "${user_config.allowed_flows}"])
def test_empty_and_unexpanded_placeholders_count_as_unset(placeholder: str) -> None:
    settings = Settings.from_env(
        {
            "DATAVERSE_URL": URL,
            "DATAVERSE_ACCESS_TOKEN": "abc",
            "DESKTOP_FLOWS_ALLOWED": placeholder,
            "DESKTOP_FLOWS_CONNECTION": placeholder,
            "DESKTOP_FLOWS_RUN_MODE": placeholder,
            "DESKTOP_FLOWS_READ_ONLY": placeholder,
        }
    )
    assert settings.run.allowed_flows == ()
    assert settings.run.connection_name is None
    assert settings.run.run_mode == "attended"
    assert settings.run.read_only is False


def test_run_options_are_read_and_validated() -> None:
    settings = Settings.from_env(
        {
            "DATAVERSE_URL": URL,
            "DATAVERSE_ACCESS_TOKEN": "abc",
            "DESKTOP_FLOWS_CONNECTION": "shared-uiflow-1",
            "DESKTOP_FLOWS_CONNECTION_TYPE": "Connection_Reference",
            "DESKTOP_FLOWS_RUN_MODE": "UNATTENDED",
            "DESKTOP_FLOWS_ALLOWED": " Invoice entry , f091ffab-58bb-4630-a115-659453d56f59,,",
            "DESKTOP_FLOWS_READ_ONLY": "true",
        }
    )
    assert settings.run.connection_type == "connection_reference"
    assert settings.run.run_mode == "unattended"
    assert settings.run.allowed_flows == ("Invoice entry", "f091ffab-58bb-4630-a115-659453d56f59")
    assert settings.run.read_only is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DESKTOP_FLOWS_RUN_MODE", "background"),
        ("DESKTOP_FLOWS_CONNECTION_TYPE", "2"),
        ("DESKTOP_FLOWS_READ_ONLY", "maybe"),
        ("DESKTOP_FLOWS_POLL_SECONDS", "-1"),
        ("DATAVERSE_AUTH", "kerberos"),
    ],
)
def test_bad_choice_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATAVERSE_URL": URL, "DATAVERSE_ACCESS_TOKEN": "abc", variable: value})
    assert str(caught.value).startswith(f"{variable}: ")
    assert f"Example: {variable}=" in str(caught.value)


def test_command_line_flags_win_over_the_environment() -> None:
    settings = Settings.from_env(
        {"DATAVERSE_URL": URL, "DATAVERSE_ACCESS_TOKEN": "abc", "DESKTOP_FLOWS_RUN_MODE": "attended"},
        {"DESKTOP_FLOWS_RUN_MODE": "unattended", "DESKTOP_FLOWS_READ_ONLY": True},
    )
    assert settings.run.run_mode == "unattended"
    assert settings.run.read_only is True
