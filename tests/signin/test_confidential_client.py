"""client_secret and certificate through real msal against the fake Entra ID."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from pathlib import Path

import anyio
import pytest

from desktop_flows_mcp.config import ConfigError
from desktop_flows_mcp.errors import DesktopFlowsError, ErrorCode
from desktop_flows_mcp.signin import build_token_provider
from tests.fakes.entra import SECRET, FakeEntra
from tests.fakes.msal_http import MsalHttpClient
from tests.signin.helpers_signin import URL, make_certificate, settings, write_pfx

pytestmark = pytest.mark.anyio


def secret_provider(entra: FakeEntra, **variables: str):
    return build_token_provider(settings("client_secret", **variables), http_client=MsalHttpClient(entra))


async def test_client_secret_token_comes_from_entra_once_then_from_msal_cache(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    entra = FakeEntra()
    provider = secret_provider(entra)

    assert await provider.token() == "fake-access-token-1"
    assert await provider.token() == "fake-access-token-1"

    assert entra.grants() == ["client_credentials"]
    assert entra.token_forms[0]["scope"] == f"{URL}/.default"
    assert provider.mode == "client_secret"
    assert SECRET not in caplog.text + repr(provider)
    assert "fake-access-token" not in caplog.text


async def test_a_token_close_to_expiry_is_renewed_on_the_next_call() -> None:
    entra = FakeEntra(expires_in=240)  # msal renews tokens with less than five minutes left

    provider = secret_provider(entra)

    assert await provider.token() == "fake-access-token-1"
    assert await provider.token() == "fake-access-token-2"
    assert entra.grants() == ["client_credentials", "client_credentials"]


async def test_force_refresh_skips_the_cached_token() -> None:
    entra = FakeEntra()
    provider = secret_provider(entra)

    await provider.token()

    assert await provider.token(force_refresh=True) == "fake-access-token-2"
    assert await provider.token() == "fake-access-token-2"


async def test_concurrent_callers_share_one_acquisition() -> None:
    entra = FakeEntra()
    provider = secret_provider(entra)
    tokens: list[str] = []

    async def call() -> None:
        tokens.append(await provider.token())

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(call)

    assert tokens == ["fake-access-token-1"] * 5
    assert entra.grants() == ["client_credentials"]


async def test_concurrent_forced_refreshes_after_a_401_refresh_once() -> None:
    entra = FakeEntra()
    provider = secret_provider(entra)
    await provider.token()

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(lambda: provider.token(force_refresh=True))

    assert entra.grants() == ["client_credentials", "client_credentials"]


@pytest.mark.parametrize(
    ("entra", "variables", "aadsts", "words"),
    [
        (FakeEntra(secret="another-secret"), {}, "AADSTS7000215", "Value (not its Secret ID)"),
        (FakeEntra(client_id="99999999-9999-9999-9999-999999999999"), {}, "AADSTS700016", "Application (client) ID"),
        (FakeEntra(), {"DATAVERSE_TENANT_ID": "fabrikam.onmicrosoft.com"}, "AADSTS90002", "Directory (tenant) ID"),
    ],
    ids=["bad-secret", "app-not-found", "tenant-not-found"],
)
async def test_entra_refusals_become_unauthenticated_with_the_fix(
    entra: FakeEntra, variables: dict[str, str], aadsts: str, words: str
) -> None:
    provider = secret_provider(entra, **variables)

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    error = caught.value
    assert error.code is ErrorCode.UNAUTHENTICATED
    assert (error.dataverse_code, words in (error.hint or "")) == (aadsts, True)
    assert "Trace ID" not in error.message
    assert SECRET not in str(error.to_payload())


async def test_an_unreachable_entra_is_a_retryable_network_error() -> None:
    class Offline:
        def get(self, *args: object, **kwargs: object) -> object:
            raise ConnectionError("network is down")

        post = get

    provider = build_token_provider(settings("client_secret"), http_client=Offline())

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert (caught.value.code, caught.value.retryable) == (ErrorCode.DATAVERSE_UNAVAILABLE, True)
    assert "login.microsoftonline.com" in caught.value.message


# ---- certificate ---------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_certificate_pem_signs_an_assertion_named_by_its_sha256_thumbprint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    certificate = make_certificate()
    pem = tmp_path / "app.pem"
    pem.write_bytes(certificate.key_pem + certificate.cert_pem)
    entra = FakeEntra(certificate_pem=certificate.cert_pem)

    provider = build_token_provider(
        settings("certificate", DATAVERSE_CLIENT_CERTIFICATE=str(pem)), http_client=MsalHttpClient(entra)
    )

    assert await provider.token() == "fake-access-token-1"
    from cryptography.hazmat.primitives import serialization

    der = certificate.cert.public_bytes(serialization.Encoding.DER)
    header = entra.assertion_headers[0]
    assert header["x5t#S256"].rstrip("=") == _b64url(hashlib.sha256(der).digest())
    assert header["alg"] == "PS256"
    assert hashlib.sha1(der).hexdigest().upper() in caplog.text  # the start-up line names the thumbprint
    key_body = certificate.key_pem.decode().splitlines()[1]
    assert key_body not in caplog.text
    assert "PRIVATE KEY" not in repr(provider)


async def test_certificate_pfx_with_password_works(tmp_path: Path) -> None:
    certificate = make_certificate()
    pfx = write_pfx(certificate, tmp_path / "app.pfx", b"pfx-pass")
    entra = FakeEntra(certificate_pem=certificate.cert_pem)

    provider = build_token_provider(
        settings(
            "certificate", DATAVERSE_CLIENT_CERTIFICATE=str(pfx), DATAVERSE_CLIENT_CERTIFICATE_PASSWORD="pfx-pass"
        ),
        http_client=MsalHttpClient(entra),
    )

    assert await provider.token() == "fake-access-token-1"


async def test_a_certificate_entra_does_not_know_gives_the_upload_hint_and_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    certificate = make_certificate()
    pem = tmp_path / "app.pem"
    pem.write_bytes(certificate.key_pem + certificate.cert_pem)
    entra = FakeEntra(certificate_pem=make_certificate("another").cert_pem)
    provider = build_token_provider(
        settings("certificate", DATAVERSE_CLIENT_CERTIFICATE=str(pem)), http_client=MsalHttpClient(entra)
    )

    with pytest.raises(DesktopFlowsError) as caught:
        await provider.token()

    assert caught.value.dataverse_code == "AADSTS700027"
    assert "Certificates & secrets > Certificates" in (caught.value.hint or "")
    key_body = certificate.key_pem.decode().splitlines()[1]
    assert key_body not in str(caught.value.to_payload()) + caplog.text


def test_certificate_problems_stop_start_up_naming_the_variable(tmp_path: Path) -> None:
    certificate = make_certificate()
    other = make_certificate("other")
    mismatched = tmp_path / "mismatched.pem"
    mismatched.write_bytes(certificate.key_pem + other.cert_pem)
    pfx = write_pfx(certificate, tmp_path / "app.pfx", b"right")
    cases: dict[str, tuple[str, dict[str, str]]] = {
        str(tmp_path / "missing.pem"): ("DATAVERSE_CLIENT_CERTIFICATE", {}),
        str(mismatched): ("DATAVERSE_CLIENT_CERTIFICATE", {}),
        str(pfx): ("DATAVERSE_CLIENT_CERTIFICATE_PASSWORD", {"DATAVERSE_CLIENT_CERTIFICATE_PASSWORD": "wrong"}),
    }
    for path, (variable, extra) in cases.items():
        with pytest.raises(ConfigError) as caught:
            build_token_provider(settings("certificate", DATAVERSE_CLIENT_CERTIFICATE=path, **extra))
        assert caught.value.variable == variable, path
        assert "BEGIN" not in str(caught.value)


@pytest.mark.parametrize(
    ("starts", "ends", "words"),
    [
        (dt.timedelta(days=2), dt.timedelta(days=400), "is not valid yet"),
        (dt.timedelta(days=-400), dt.timedelta(days=-2), "has expired"),
    ],
    ids=["not-yet-valid", "expired"],
)
def test_a_certificate_outside_its_validity_window_stops_start_up_with_its_dates(
    tmp_path: Path, starts: dt.timedelta, ends: dt.timedelta, words: str
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    certificate = make_certificate(not_before=now + starts, not_after=now + ends)
    pem = tmp_path / "app.pem"
    pem.write_bytes(certificate.key_pem + certificate.cert_pem)

    with pytest.raises(ConfigError) as caught:
        build_token_provider(settings("certificate", DATAVERSE_CLIENT_CERTIFICATE=str(pem)))

    message = str(caught.value)
    assert caught.value.variable == "DATAVERSE_CLIENT_CERTIFICATE"
    assert words in message
    assert f"valid from {now + starts:%Y-%m-%d %H:%M} to {now + ends:%Y-%m-%d %H:%M} UTC" in message


def test_a_password_for_a_key_that_has_none_says_so_and_to_unset_it(tmp_path: Path) -> None:
    """cryptography answers both 'password but not encrypted' and 'encrypted but no password' with TypeError."""
    certificate = make_certificate()
    pem = tmp_path / "app.pem"
    pem.write_bytes(certificate.key_pem + certificate.cert_pem)
    pfx = write_pfx(certificate, tmp_path / "app.pfx", None)

    for path in (pem, pfx):
        with pytest.raises(ConfigError) as caught:
            build_token_provider(
                settings(
                    "certificate", DATAVERSE_CLIENT_CERTIFICATE=str(path), DATAVERSE_CLIENT_CERTIFICATE_PASSWORD="x"
                )
            )
        assert caught.value.variable == "DATAVERSE_CLIENT_CERTIFICATE_PASSWORD"
        assert "is set, but" in str(caught.value) and "unset it" in str(caught.value), path
        assert "is encrypted" not in str(caught.value)


def test_a_file_that_is_neither_pem_nor_pfx_blames_the_file_not_the_password(tmp_path: Path) -> None:
    other = tmp_path / "app.key"
    other.write_bytes(b"\x00\x01 not a certificate")

    with pytest.raises(ConfigError) as caught:
        build_token_provider(settings("certificate", DATAVERSE_CLIENT_CERTIFICATE=str(other)))

    assert caught.value.variable == "DATAVERSE_CLIENT_CERTIFICATE"
    assert "neither PEM" in str(caught.value)
