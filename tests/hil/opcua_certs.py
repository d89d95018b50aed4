"""Self-signed OPC UA application certificates for tests (server and client), made with ``cryptography``.

OPC UA requires the application URI in the certificate's SubjectAlternativeName (as a URI entry);
the certificates made here carry it together with ``localhost``, the host name and ``127.0.0.1``,
the key usages OPC UA applications check, and both server and client extended key usages.

Usage::

    certs = make_opcua_certs(tmp_path)
    certs.server_cert, certs.server_key, certs.client_cert, certs.client_key  # paths (DER cert, PEM key)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["BENCH_URI", "TWIN_URI", "OpcuaCerts", "make_opcua_cert", "make_opcua_certs"]

BENCH_URI = "urn:phystwin:bench"
TWIN_URI = "urn:phystwin:twin"


@dataclass(frozen=True)
class OpcuaCerts:
    """Paths of a server and a client certificate (DER) with their private keys (PEM, unencrypted)."""

    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_opcua_cert(
    folder: Path, name: str, application_uri: str, *, days: int = 2, key_size: int = 2048
) -> tuple[Path, Path]:
    """Write a self-signed certificate ``<name>_cert.der`` and its key ``<name>_key.pem`` into ``folder``.

    Parameters
    ----------
    folder : Path
        Existing folder to write to.
    name : str
        File name stem and common name.
    application_uri : str
        The OPC UA application URI, stored as a URI in the SubjectAlternativeName.
    days : int
        Validity from one hour ago.
    key_size : int
        RSA key size in bits (2048 suits Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss).

    Returns
    -------
    tuple of Path
        (certificate path, private key path).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phystwin tests")]
    )
    now = dt.datetime.now(dt.UTC)
    dns = sorted({"localhost", socket.gethostname()})
    san = x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier(application_uri),
            *(x509.DNSName(d) for d in dns),
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / f"{name}_cert.der"
    key_path = folder / f"{name}_key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def make_opcua_certs(folder: Path, *, bench_uri: str = BENCH_URI, twin_uri: str = TWIN_URI) -> OpcuaCerts:
    """A server (bench) and a client (twin) certificate with keys, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    server_cert, server_key = make_opcua_cert(folder, "bench", bench_uri)
    client_cert, client_key = make_opcua_cert(folder, "twin", twin_uri)
    return OpcuaCerts(server_cert, server_key, client_cert, client_key)
