"""Load the app registration's certificate once, at start-up, so a wrong file fails before any tool call.

``DATAVERSE_CLIENT_CERTIFICATE`` is a path to either a PEM file holding the private key and the certificate,
or a PFX/PKCS#12 file (``DATAVERSE_CLIENT_CERTIFICATE_PASSWORD`` when it is protected). msal signs a client
assertion with the key and names the certificate by its SHA-256 thumbprint (``x5t#S256``), which Entra matches
against the certificates uploaded to the app registration. Key material stays in memory and never reaches a
message: errors name the file and the variable, not the content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import ConfigError, Secret

VARIABLE = "DATAVERSE_CLIENT_CERTIFICATE"
PASSWORD_VARIABLE = "DATAVERSE_CLIENT_CERTIFICATE_PASSWORD"
_EXAMPLE = "/etc/desktop-flows-mcp/app.pem (private key and certificate in one PEM file, or a .pfx)"


@dataclass(frozen=True)
class ClientCertificate:
    """The msal ``client_credential`` plus the public facts a person needs to match it in Entra."""

    sha1_thumbprint: str  # what the Entra portal lists under Certificates & secrets
    sha256_thumbprint: str
    not_after: datetime
    _credential: dict[str, Any] = field(repr=False)

    def msal_credential(self) -> dict[str, Any]:
        return dict(self._credential)


def load_client_certificate(path: str, password: Secret | None, *, now: datetime | None = None) -> ClientCertificate:
    """Read and check the certificate file; raises ConfigError naming the variable to fix."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            VARIABLE, f"cannot read {str(file)!r} ({exc.strerror or type(exc).__name__}).", _EXAMPLE
        ) from None
    passphrase = password.reveal().encode() if password else None

    key: Any
    certificate: x509.Certificate
    if b"-----BEGIN" in data:
        try:
            certificates = x509.load_pem_x509_certificates(data) if b"CERTIFICATE-----" in data else []
        except ValueError:
            raise ConfigError(VARIABLE, f"the certificate in {str(file)!r} is not valid PEM.", _EXAMPLE) from None
        if not certificates:
            raise ConfigError(
                VARIABLE, f"{str(file)!r} has no certificate; put the certificate after the key.", _EXAMPLE
            )
        if b"PRIVATE KEY-----" not in data:
            raise ConfigError(
                VARIABLE, f"{str(file)!r} has no private key; put the key and the certificate in it.", _EXAMPLE
            )
        try:
            key = serialization.load_pem_private_key(_pem_block(data, b"PRIVATE KEY"), passphrase)
        except TypeError:  # cryptography: a password for a key that has none, or none for a key that has one
            if passphrase is not None:
                raise ConfigError(
                    PASSWORD_VARIABLE,
                    f"is set, but the private key in {str(file)!r} is not encrypted; unset it.",
                    "(unset)",
                ) from None
            raise ConfigError(
                PASSWORD_VARIABLE, f"is needed: the private key in {str(file)!r} is encrypted.", "the key's passphrase"
            ) from None
        except ValueError:
            raise ConfigError(
                PASSWORD_VARIABLE if passphrase else VARIABLE,
                f"cannot open the private key in {str(file)!r} (wrong passphrase or not a PEM key).",
                "the key's passphrase" if passphrase else _EXAMPLE,
            ) from None
        certificate = next(
            (cert for cert in certificates if cert.public_key() == key.public_key()),  # pyright: ignore[reportUnknownMemberType]  # key type narrowed below
            certificates[0],
        )
        if certificate.public_key() != key.public_key():  # pyright: ignore[reportUnknownMemberType]
            raise ConfigError(
                VARIABLE, f"the private key in {str(file)!r} does not belong to its certificate.", _EXAMPLE
            )
        credential: dict[str, Any] = {
            "private_key": key.private_bytes(  # pyright: ignore[reportUnknownMemberType]
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        }
    elif not data.startswith(b"\x30"):  # every PFX is one DER SEQUENCE
        raise ConfigError(VARIABLE, f"{str(file)!r} is neither PEM (-----BEGIN ...) nor a PFX/PKCS#12 file.", _EXAMPLE)
    else:
        try:
            key, loaded, _ = pkcs12.load_key_and_certificates(data, passphrase)
        except ValueError:
            raise _pfx_refused(file, data, passphrase) from None
        if key is None or loaded is None:
            raise ConfigError(VARIABLE, f"{str(file)!r} must hold both the private key and the certificate.", _EXAMPLE)
        certificate = loaded
        credential = {"private_key_pfx_path": str(file)}
        if password:
            credential["passphrase"] = password.reveal()

    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(VARIABLE, "must hold an RSA key; Entra signs client assertions with RSA only.", _EXAMPLE)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    moment = now or datetime.now(UTC)
    valid = f"valid from {not_before:%Y-%m-%d %H:%M} to {not_after:%Y-%m-%d %H:%M} UTC"
    if not_after <= moment:
        raise ConfigError(
            VARIABLE,
            f"the certificate in {str(file)!r} has expired ({valid}); upload a new one to the app registration.",
            _EXAMPLE,
        )
    if not_before > moment:  # Entra refuses an assertion signed with it, with a less helpful error
        raise ConfigError(
            VARIABLE,
            f"the certificate in {str(file)!r} is not valid yet ({valid}); wait until then, or check this "
            "machine's clock.",
            _EXAMPLE,
        )
    return ClientCertificate(
        sha1_thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # the Entra portal lists SHA-1
        sha256_thumbprint=certificate.fingerprint(hashes.SHA256()).hex().upper(),
        not_after=not_after,
        _credential=credential,
    )


def _pfx_refused(file: Path, data: bytes, passphrase: bytes | None) -> ConfigError:
    """Which of the file and the password is wrong: a file that opens without the password set has none."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    if passphrase is None:
        return ConfigError(
            PASSWORD_VARIABLE,
            f"is not set and {str(file)!r} does not open without it (a PFX protected by a password, or a damaged one).",
            "the PFX password",
        )
    try:
        pkcs12.load_key_and_certificates(data, None)
    except ValueError:
        return ConfigError(
            PASSWORD_VARIABLE,
            f"does not open {str(file)!r} (wrong password, or the file is not PEM or PFX).",
            "the PFX password",
        )
    return ConfigError(PASSWORD_VARIABLE, f"is set, but {str(file)!r} has no password; unset it.", "(unset)")


def _pem_block(data: bytes, label: bytes) -> bytes:
    """The first PEM block whose label ends with ``label`` (e.g. RSA PRIVATE KEY, ENCRYPTED PRIVATE KEY)."""
    for chunk in data.split(b"-----BEGIN ")[1:]:
        name = chunk.split(b"-----", 1)[0]
        if name.endswith(label):
            return b"-----BEGIN " + chunk.split(b"-----END " + name + b"-----", 1)[0] + b"-----END " + name + b"-----\n"
    return data
