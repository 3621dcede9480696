"""Shared builders for the sign-in tests (settings for each mode, a throwaway certificate, a fake clock)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_flows_mcp.config import Settings
from desktop_flows_mcp.signin import build_token_provider
from desktop_flows_mcp.signin.device_code import DeviceCodeProvider
from tests.fakes.entra import CLIENT_ID, SECRET, TENANT, FakeEntra
from tests.fakes.msal_http import MsalHttpClient

URL = "https://contoso.crm.dynamics.com"


def settings(mode: str, **variables: str) -> Settings:
    env = {
        "DATAVERSE_URL": URL,
        "DATAVERSE_AUTH": mode,
        "DATAVERSE_TENANT_ID": TENANT,
        "DATAVERSE_CLIENT_ID": CLIENT_ID,
    }
    if mode == "client_secret":
        env["DATAVERSE_CLIENT_SECRET"] = SECRET
    if mode == "managed_identity":
        env.pop("DATAVERSE_CLIENT_ID")
    env.update(variables)
    return Settings.from_env(env)


def plaintext_device_code(cache_dir: Path, entra: FakeEntra) -> DeviceCodeProvider:
    """A device_code server whose sign-in is kept in a plain file in ``cache_dir`` (a second one may share it)."""
    built = build_token_provider(
        settings("device_code", DATAVERSE_TOKEN_CACHE_DIR=str(cache_dir), DATAVERSE_TOKEN_CACHE_PLAINTEXT="true"),
        http_client=MsalHttpClient(entra),
        clock=FakeClock(),
    )
    assert isinstance(built, DeviceCodeProvider)
    return built


@dataclass
class FakeClock:
    seconds: float = 1000.0

    def __call__(self) -> float:
        return self.seconds


@dataclass(frozen=True)
class Certificate:
    key_pem: bytes
    cert_pem: bytes
    key: Any
    cert: Any


def make_certificate(
    common_name: str = "desktop-flows-mcp test",
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Certificate(key_pem, cert.public_bytes(serialization.Encoding.PEM), key, cert)


def write_pfx(certificate: Certificate, path: Path, password: bytes | None) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"app", certificate.key, certificate.cert, None, encryption))
    return path
