"""A real SMTP relay for the mail tests: aiosmtpd on 127.0.0.1 with a throwaway CA.

Three kinds: STARTTLS required (like Zivver's gateway on 587), implicit TLS (465), and a
plaintext-only server that tempts a client with AUTH before any TLS. Each peer records what
arrived (envelope, raw message, the TLS version it came over) and every login attempt (and
whether it came over TLS), so that a test can assert both what was sent and what was not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "Received", "SmtpPeer", "make_pki", "smtp_peer"]

Mode = Literal["starttls", "tls", "plain"]


@dataclass(frozen=True)
class Pki:
    ca_file: Path  # what the client is told to trust
    cert_file: Path  # the server's certificate (signed by the CA)
    key_file: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_pki(folder: Path, *, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Pki:
    """A fresh CA and a server certificate for ``names`` (IP addresses or DNS names)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("kbx test CA"))
        .issuer_name(_name("kbx test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls_version: str | None  # e.g. "TLSv1.3"; None when the message came in plaintext


@dataclass(frozen=True)
class Login:
    username: str
    over_tls: bool
    accepted: bool


@dataclass
class SmtpPeer:
    host: str
    port: int
    mode: Mode
    received: list[Received] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)


def _tls_version(server: SMTP) -> str | None:
    transport = server.transport
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    version: str | None = ssl_object.version()
    return version


class _Recorder:
    def __init__(self, peer: SmtpPeer, username: str | None, password: str | None) -> None:
        self.peer = peer
        self.username = username
        self.password = password

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.peer.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=content,
                tls_version=_tls_version(server),
            )
        )
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        accepted = login == self.username and password == self.password
        self.peer.logins.append(Login(login, _tls_version(server) is not None, accepted))
        return AuthResult(success=accepted)


class _Controller(Controller):
    """Binds port 0 and reads back the port the system chose."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


@contextmanager
def smtp_peer(
    mode: Mode,
    pki: Pki | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
) -> Iterator[SmtpPeer]:
    """A running relay on 127.0.0.1. With ``username``, a login is required (after TLS)."""
    peer = SmtpPeer("127.0.0.1", 0, mode)
    recorder = _Recorder(peer, username, password)
    options: dict[str, Any] = {
        "server_hostname": "relay.kbx.test",
        "authenticator": recorder.authenticate,
    }
    if mode == "starttls":
        assert pki is not None
        options.update(
            tls_context=_server_context(pki),
            require_starttls=True,
            auth_required=username is not None,
        )
    elif mode == "tls":
        assert pki is not None
        # aiosmtpd counts only STARTTLS as TLS for AUTH (and warns when a login is required
        # without it); here the whole connection is TLS, so AUTH is offered, not required.
        options.update(ssl_context=_server_context(pki), auth_require_tls=False)
    else:
        # The temptation: AUTH offered in plaintext. A correct client never takes it.
        options.update(auth_require_tls=False)
    controller = _Controller(recorder, hostname="127.0.0.1", port=0, **options)
    controller.start()
    peer.port = controller.port
    try:
        yield peer
    finally:
        controller.stop()
