"""A real mosquitto broker for tests: loopback only, password authentication, optional TLS listener.

The broker gets a generated configuration in its own folder: ``allow_anonymous false``, a password
file made with ``mosquitto_passwd -b``, a plain listener and (``tls=True``) a TLS listener whose
server certificate is signed by a CA generated at test time; both listeners bind ``127.0.0.1`` on
free ports. No persistence: a restart forgets retained messages and sessions, like a fresh broker.

Usage, through the fixture of ``tests/hil/conftest.py`` (a fresh broker per test)::

    def test_something(mosquitto):                    # a started Mosquitto
        url = mosquitto.url("phystwin")               # "mqtt://127.0.0.1:<port>/phystwin"
        opts = mosquitto.options()                    # {"username": ..., "password": ...}
        tls_url = mosquitto.url("phystwin", tls=True) # "mqtts://127.0.0.1:<tls_port>/phystwin"
        tls_opts = mosquitto.options(tls=True)        # adds "ca_file"
        mosquitto.restart(down_for=1.0)               # same ports

or directly, e.g. for a module- or session-scoped broker in another test file::

    from mosquitto import mosquitto_broker            # tests/hil is on sys.path (rootdir conftest mode)

    @pytest.fixture(scope="module")
    def broker(tmp_path_factory):
        with mosquitto_broker(tmp_path_factory) as b:
            yield b

:func:`mosquitto_broker` skips the test when mosquitto is not installed, and always stops the
broker on the way out. :func:`listening_addresses` reads the kernel's socket table to check what
a port is bound to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Mosquitto", "find_mosquitto", "listening_addresses", "make_tls_files", "mosquitto_broker"]

_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN:
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def find_mosquitto() -> tuple[str, str] | None:
    """Paths of ``mosquitto`` and ``mosquitto_passwd``, or None if either is missing."""
    broker, passwd = _which("mosquitto"), _which("mosquitto_passwd")
    return (broker, passwd) if broker and passwd else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tls_files(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """Write a test CA and a server certificate for ``host`` (and ``localhost``) signed by it.

    Parameters
    ----------
    folder : Path
        Existing folder to write ``ca.crt``, ``server.crt`` and ``server.key`` (PEM) into.
    host : str
        IP address put in the server certificate's SubjectAlternativeName.

    Returns
    -------
    tuple of Path
        ``(ca_file, cert_file, key_file)``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phystwin test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


def listening_addresses(port: int) -> set[str]:
    """Local addresses (``"127.0.0.1"``, ``"0.0.0.0"``, ``"::"``…) with a TCP socket listening on ``port``.

    Read from ``/proc/net/tcp`` and ``/proc/net/tcp6`` (Linux); empty if nothing listens.
    """
    out: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A = LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(addr_hex)
            # the kernel prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            out.add(socket.inet_ntop(family, raw))
    return out


class Mosquitto:
    """One mosquitto process with a generated configuration (see the module docstring).

    Parameters
    ----------
    folder : Path
        Empty folder for the configuration, password file, certificates and log.
    tls : bool
        Also open a TLS listener (``tls_port``) with a generated CA (``ca_file``).
    username, password : str
        The one account of the password file (a random password by default).
    """

    host = "127.0.0.1"

    def __init__(self, folder: Path, *, tls: bool = True, username: str = "phystwin", password: str | None = None):
        found = find_mosquitto()
        if found is None:
            raise RuntimeError("mosquitto and mosquitto_passwd are needed (Debian package 'mosquitto')")
        self._broker, self._passwd = found
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(12)
        self.port = 0
        self.tls_port: int | None = None
        self.ca_file: Path | None = None
        self._cert: tuple[Path, Path] | None = None
        self.config_file = self.folder / "mosquitto.conf"
        self.password_file = self.folder / "passwd"
        self.log_file = self.folder / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [self._passwd, "-c", "-b", str(self.password_file), self.username, self.password],
            check=True,
            capture_output=True,
            timeout=10,
        )
        self.password_file.chmod(0o600)
        if tls:
            self.ca_file, cert, key = make_tls_files(self.folder, self.host)
            self._cert = (cert, key)

    # ------------------------------------------------------------------ configuration
    def _write_config(self) -> None:
        lines = [
            "# generated by tests/hil/mosquitto.py",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {self.password_file}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            f"listener {self.port} {self.host}",
            "socket_domain ipv4",
        ]
        if os.geteuid() == 0:
            lines.insert(1, "user root")  # keep access to the 0700 test folder instead of dropping to 'mosquitto'
        if self.tls and self._cert is not None:
            cert, key = self._cert
            lines += [
                f"listener {self.tls_port} {self.host}",
                "socket_domain ipv4",
                f"cafile {self.ca_file}",
                f"certfile {cert}",
                f"keyfile {key}",
                "require_certificate false",
            ]
        self.config_file.write_text("\n".join(lines) + "\n")

    @property
    def ports(self) -> tuple[int, ...]:
        """All listener ports."""
        return (self.port,) if self.tls_port is None else (self.port, self.tls_port)

    def url(self, root: str = "phystwin", *, tls: bool = False) -> str:
        """``mqtt://127.0.0.1:<port>/<root>`` or, with ``tls``, ``mqtts://127.0.0.1:<tls_port>/<root>``."""
        if tls:
            if self.tls_port is None:
                raise RuntimeError("this broker has no TLS listener")
            return f"mqtts://{self.host}:{self.tls_port}/{root}"
        return f"mqtt://{self.host}:{self.port}/{root}"

    def options(self, *, tls: bool = False, **extra: Any) -> dict[str, Any]:
        """A ``[transport.mqtt]`` table with the broker's credentials (and ``ca_file`` with ``tls``)."""
        opts: dict[str, Any] = {"username": self.username, "password": self.password}
        if tls:
            opts["ca_file"] = str(self.ca_file)
        opts.update(extra)
        return opts

    # ------------------------------------------------------------------ process
    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """The broker's log so far (for failure messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 5.0) -> None:
        """Start the broker and wait until every listener accepts TCP connections.

        The first start picks free ports (retrying with others if one is taken meanwhile); later
        starts reuse them, so clients can reconnect to the same address.
        """
        if self.running:
            return
        fresh = self.port == 0
        for attempt in range(3 if fresh else 1):
            if fresh:
                self.port = _free_port()
                self.tls_port = _free_port() if self.tls else None
                while self.tls_port == self.port:
                    self.tls_port = _free_port()
            self._write_config()
            with open(self.log_file, "ab") as log:  # the child keeps its own descriptor
                self._proc = subprocess.Popen(
                    [self._broker, "-c", str(self.config_file)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready(timeout):
                return
            self._kill()
            if attempt == 2 or not fresh:
                break
        raise RuntimeError(f"mosquitto did not start on {self.ports}; log:\n{self.log_text()[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pending = set(self.ports)
        while pending and time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            for port in list(pending):
                with contextlib.suppress(OSError), socket.create_connection((self.host, port), timeout=0.2):
                    pending.discard(port)
            if pending:
                time.sleep(0.02)
        return not pending

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        else:
            proc.wait()

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after 5 s); idempotent."""
        self._kill()

    def restart(self, down_for: float = 0.0, timeout: float = 5.0) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same ports."""
        self.stop()
        if down_for > 0:
            time.sleep(down_for)
        self.start(timeout)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def mosquitto_broker(tmp_path_factory: Any, *, tls: bool = True, name: str = "mosquitto") -> Iterator[Mosquitto]:
    """A started :class:`Mosquitto` in a fresh temporary folder, always stopped afterwards.

    Parameters
    ----------
    tmp_path_factory : pytest.TempPathFactory
        The pytest fixture (works at any fixture scope).
    tls : bool
        Also open the TLS listener.
    name : str
        Stem of the temporary folder.

    Examples
    --------
    ::

        @pytest.fixture(scope="module")
        def broker(tmp_path_factory):
            with mosquitto_broker(tmp_path_factory) as b:
                yield b
    """
    import pytest

    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed")
    broker = Mosquitto(tmp_path_factory.mktemp(name), tls=tls)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
