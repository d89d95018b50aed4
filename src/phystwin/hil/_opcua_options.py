"""Options of the OPC UA transport: the ``[transport.opcua]`` table, the endpoint URL, and the
security settings (policy, certificates, application URIs) both ends read from them."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from phystwin.hil._link_common import parse_options, resolve_password, shown_url, url_port
from phystwin.hil.link import LinkError

DEFAULT_BENCH_URI = "urn:phystwin:bench"
DEFAULT_TWIN_URI = "urn:phystwin:twin"


class OpcuaOptions(BaseModel):
    """Options of the OPC UA transport (the config's ``[transport.opcua]`` table).

    Parameters
    ----------
    security_policy : str
        ``"None"``, ``"Basic256Sha256"``, ``"Aes128_Sha256_RsaOaep"`` or ``"Aes256_Sha256_RsaPss"``.
    security_mode : str
        ``"Sign"`` or ``"SignAndEncrypt"`` (ignored with policy ``"None"``).
    certificate, private_key : Path, optional
        This application's certificate (DER or PEM, with the application URI in its
        SubjectAlternativeName) and private key; required by a secure policy.
    server_certificate : Path, optional
        Twin side: the bench's certificate to trust; required by a secure policy.
    trusted_client_certificates : list of Path
        Bench side: the only client certificates accepted (empty: any valid one).
    username, password, password_env : str, optional
        User authentication; ``password_env`` names an environment variable holding the password.
    publishing_interval : float
        Twin side: subscription publishing interval [s].
    connect_timeout : float
        Connection (twin) or start (bench) timeout [s], also the timeout of each request.
    queue_size : int
        Twin side: arrivals kept between two polls (the oldest are dropped and counted beyond it).
    """

    model_config = ConfigDict(extra="forbid")
    security_policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] = "None"
    security_mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    trusted_client_certificates: list[Path] = Field(default_factory=list)
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_env: str | None = None
    publishing_interval: float = Field(0.005, gt=0, le=60)
    connect_timeout: float = Field(5, gt=0, le=600)
    queue_size: int = Field(100_000, ge=1)


def _options(options: Mapping[str, Any]) -> OpcuaOptions:
    return parse_options(OpcuaOptions, options, "opcua")


def _password(options: OpcuaOptions) -> str | None:
    password = resolve_password("opcua", options.password, options.password_env)
    if password is not None and not options.username:
        raise LinkError("[transport.opcua]: password: a password is given but no username")
    return password


def _check_files(options: OpcuaOptions, *keys: str) -> None:
    for key in keys:
        value = getattr(options, key)
        paths = value if isinstance(value, list) else [value]
        for i, path in enumerate(paths):
            where = f"{key}[{i}]" if isinstance(value, list) else key
            if path is None:
                raise LinkError(f"[transport.opcua]: {where}: required by security_policy {options.security_policy!r}")
            if not Path(path).is_file():
                raise LinkError(f"[transport.opcua]: {where}: no such file {str(path)!r}")


def _endpoint(url: urllib.parse.SplitResult) -> tuple[str, int, str]:
    """(host, port, endpoint URL without credentials) of an ``opc.tcp://`` URL."""
    shown = shown_url(url)
    if url.scheme != "opc.tcp":
        raise LinkError(f"{shown}: expected an opc.tcp:// URL, e.g. opc.tcp://127.0.0.1:4840/phystwin/")
    port = url_port(url, shown)
    if port is None:
        port = 4840
    if not url.hostname:
        raise LinkError(f"{shown}: no host, expected e.g. opc.tcp://127.0.0.1:4840/phystwin/")
    host = url.hostname
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, port, f"opc.tcp://{netloc}{url.path or '/'}"


def _security(options: OpcuaOptions) -> tuple[Any, Any]:
    """(policy class, message security mode) of a secure ``options.security_policy``."""
    from asyncua import ua
    from asyncua.crypto import security_policies as sp

    policy = {
        "Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
        "Aes128_Sha256_RsaOaep": sp.SecurityPolicyAes128Sha256RsaOaep,
        "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss,
    }[options.security_policy]
    mode = ua.MessageSecurityMode.Sign if options.security_mode == "Sign" else ua.MessageSecurityMode.SignAndEncrypt
    return policy, mode


def _load_cert(path: Path) -> Any:
    from cryptography import x509

    data = Path(path).read_bytes()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise LinkError(f"[transport.opcua]: {path}: not a certificate ({exc})") from None


def _application_uri(cert_path: Path | None, default: str) -> str:
    """The first URI of the certificate's SubjectAlternativeName, else ``default``."""
    if cert_path is None:
        return default
    from cryptography import x509

    try:
        san = _load_cert(cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return default
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else default


def _der(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.DER))
