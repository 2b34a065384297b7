"""The two mail routes of kbx, ``secure_mail`` and ``zivver``: a sealed file as the attachment of
one message to the recipient's registered mailbox, through an SMTP relay over TLS.

    MailTransport (port)      SmtpSender        one relay: implicit TLS or STARTTLS, never plaintext
                              MailCapture       dev only: .eml files (channels.mail_capture)
    Delivery adapters         SecureMailDelivery   channel ``secure_mail`` (encrypted e-mail)
                              ZivverDelivery       channel ``zivver`` (Zivver's SMTP gateway)

The two adapters share the message frame (subject with the reference only, the file's password
by SMS, the protocol's disclaimer) but not their relay, sender or wording: each is built with its
own transport, and each refuses a recipient whose registered route is the other one. Zivver's
gateway (Mail Submission: STARTTLS on 587, TLS 1.2, SMTP credentials, a Zivver account for the
From address) encrypts the message itself and makes the recipient pass its own verification
before it shows anything; kbx's file stays sealed under its own password all the same.

Every failure becomes a ``ChannelError`` that names the route and the reason, never an address
or anything the relay echoed back.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import ClassVar, Protocol

from exchange.ports import ChannelError, Parcel

__all__ = [
    "AddressLookup",
    "MailTransport",
    "SecureMailDelivery",
    "SmtpRelay",
    "SmtpSender",
    "ZivverDelivery",
    "tls_context",
]

log = logging.getLogger("kbx.mail")

SECURITY_MODES = ("starttls", "tls")

# The recipient's registered mailbox and its route ("secure_mail" or "zivver"), by recipient id.
AddressLookup = Callable[[str], tuple[str, str]]


class MailTransport(Protocol):
    """Hands one composed message to a relay (or, in development, to a file)."""

    def send(self, message: EmailMessage, *, sender: str, to: str) -> None: ...


@dataclass(frozen=True)
class SmtpRelay:
    """One relay's settings. ``security`` is "starttls" or "tls" (implicit); there is no
    plaintext mode. ``ca_file`` adds a CA bundle to the system's trusted roots."""

    host: str
    port: int
    security: str
    sender: str
    username: str = ""
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ChannelError("mail relay: no host configured")
        if self.security not in SECURITY_MODES:
            raise ChannelError(
                f"mail relay {self.host}: security must be 'starttls' or 'tls', "
                f"not {self.security!r}; kbx never sends mail in plaintext"
            )
        if self.username and not self.password:
            raise ChannelError(f"mail relay {self.host}: a username is set but no password")
        if "@" not in self.sender:
            raise ChannelError(f"mail relay {self.host}: the sender address is not an address")


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Verifies the relay's certificate and host name against the system's roots plus
    ``ca_file``; TLS 1.2 at least (Zivver's gateway documents TLS 1.2)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class SmtpSender:
    """Sends over one relay. With STARTTLS, a relay that does not offer it is refused before any
    credentials or data leave; the certificate is always verified."""

    def __init__(self, relay: SmtpRelay, *, route: str) -> None:
        self.relay = relay
        self.route = route
        try:
            self._context = tls_context(relay.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"{route}: the CA file for the relay cannot be read") from exc

    def __repr__(self) -> str:
        r = self.relay
        return f"SmtpSender({self.route}: {r.host}:{r.port} {r.security})"

    def _where(self) -> str:
        return f"{self.route} relay {self.relay.host}:{self.relay.port}"

    def _open(self) -> smtplib.SMTP:
        r = self.relay
        if r.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                r.host, r.port, timeout=r.timeout_seconds, context=self._context
            )
        else:
            smtp = smtplib.SMTP(r.host, r.port, timeout=r.timeout_seconds)
        try:
            smtp.ehlo()
            if r.security == "tls":
                return smtp
            if not smtp.has_extn("starttls"):
                raise ChannelError(
                    f"{self._where()} does not offer STARTTLS; nothing was sent "
                    "(kbx never sends mail in plaintext)"
                )
            smtp.starttls(context=self._context)
            if not isinstance(smtp.sock, ssl.SSLSocket):  # pragma: no cover - smtplib's promise
                raise ChannelError(f"{self._where()}: STARTTLS did not take effect")
            smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, *, sender: str, to: str) -> None:
        r = self.relay
        try:
            smtp = self._open()
            try:
                if r.username:
                    smtp.login(r.username, r.password or "")
                # The envelope names the registered mailbox only, never what the headers say.
                refused = smtp.send_message(message, from_addr=sender, to_addrs=[to])
                if refused:
                    raise ChannelError(f"{self._where()} refused the recipient")
                # The relay has taken the message: a failing goodbye does not undo that.
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
            finally:
                smtp.close()
        except ChannelError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(
                f"{self._where()}: certificate not trusted ({exc.verify_message})"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(f"{self._where()}: login refused ({exc.smtp_code})") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(
                f"{self._where()} lacks an extension kbx needs (AUTH or SMTPUTF8)"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"{self._where()} refused the recipient") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise ChannelError(f"{self._where()} refused the sender ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"{self._where()} answered {exc.smtp_code}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise ChannelError(f"{self._where()} closed the connection") from exc
        except smtplib.SMTPException as exc:
            raise ChannelError(f"{self._where()}: {type(exc).__name__}") from exc
        except ssl.SSLError as exc:
            raise ChannelError(f"{self._where()}: TLS failed ({exc.reason})") from exc
        except OSError as exc:
            raise ChannelError(f"{self._where()}: {exc.strerror or type(exc).__name__}") from exc


# -- the two routes ---------------------------------------------------------------------------


def _check_address(address: str, recipient: str, channel: str) -> None:
    local, at, domain = address.rpartition("@")
    if not (at and local and "." in domain) or any(c.isspace() or c in "<>,;" for c in address):
        raise ChannelError(f"{channel}: the registered mailbox of {recipient} is not an address")


class _MailDelivery:
    """What both mail routes share. A subclass names its channel and its own wording."""

    channel: ClassVar[str]

    def __init__(self, transport: MailTransport, *, sender: str, addresses: AddressLookup) -> None:
        self.transport = transport
        self.sender = sender
        self._addresses = addresses

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport!r})"

    # -- exchange.ports.Delivery ---------------------------------------------------------------

    def deliver(self, parcel: Parcel) -> None:
        address, route = self._addresses(parcel.recipient_id)
        if route != self.channel:
            raise ChannelError(
                f"{self.channel}: recipient {parcel.recipient_id} is registered for {route}, "
                f"not for {self.channel}"
            )
        _check_address(address, parcel.recipient_id, self.channel)
        message = self.compose(parcel, address)
        self.transport.send(message, sender=self.sender, to=address)
        log.info(
            "%s: %s (%d bytes) handed to the relay for the registered mailbox of %s",
            self.channel,
            parcel.name,
            len(parcel.data),
            parcel.recipient_id,
        )

    def present(self, recipient: str, name: str) -> str | None:
        return None  # a sent mail cannot be looked at

    def withdraw(self, recipient: str, name: str) -> bool:
        return False  # nor called back

    # -- the message ---------------------------------------------------------------------------

    def compose(self, parcel: Parcel, to: str) -> EmailMessage:
        """Subject and body name the file's reference and the protocol, never a person."""
        if not parcel.disclaimer_nl:
            raise ChannelError(f"{self.channel}: the protocol has no mail disclaimer")
        maintype, _, subtype = parcel.media_type.partition("/")
        if not (maintype and subtype):
            maintype, subtype = "application", "octet-stream"
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = f"AgII - bestand {parcel.reference}"
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(
            idstring=parcel.reference, domain=self.sender.rpartition("@")[2]
        )
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(self.body_nl(parcel), charset="utf-8", cte="quoted-printable")
        message.add_attachment(parcel.data, maintype, subtype, filename=parcel.name)
        return message

    def body_nl(self, parcel: Parcel) -> str:
        paragraphs = [
            "Geachte,",
            *self.intro_nl(parcel),
            (
                "Het bestand is versleuteld. Het wachtwoord ontvangt u afzonderlijk per sms, "
                "op het gsm-nummer van de contactpersoon die uw organisatie bij het Agentschap "
                "Integratie en Inburgering heeft geregistreerd. Het wachtwoord reist nooit met "
                "het bestand mee; bezorg het niet samen met het bestand aan anderen."
            ),
            *self.notes_nl(),
            parcel.disclaimer_nl or "",
            "Met vriendelijke groeten,\nAgentschap Integratie en Inburgering",
        ]
        return "\n\n".join(paragraphs) + "\n"

    def intro_nl(self, parcel: Parcel) -> list[str]:
        raise NotImplementedError

    def notes_nl(self) -> list[str]:
        return []


class SecureMailDelivery(_MailDelivery):
    """Channel ``secure_mail``: an encrypted file by e-mail through AgII's relay over TLS. The
    mailbox itself is ordinary e-mail, so everything rests on the file's own encryption."""

    channel = "secure_mail"

    def intro_nl(self, parcel: Parcel) -> list[str]:
        return [
            f"In de bijlage van deze e-mail vindt u het versleutelde bestand {parcel.reference} "
            f"({parcel.name}): {parcel.protocol_title_nl}."
        ]


class ZivverDelivery(_MailDelivery):
    """Channel ``zivver``: the same file through Zivver's SMTP gateway, which delivers it as a
    Zivver message. Its relay, credentials and sender (a Zivver account) are its own."""

    channel = "zivver"

    def intro_nl(self, parcel: Parcel) -> list[str]:
        return [
            f"Via Zivver ontvangt u het versleutelde bestand {parcel.reference} "
            f"({parcel.name}) als bijlage: {parcel.protocol_title_nl}."
        ]

    def notes_nl(self) -> list[str]:
        return [
            (
                "Om dit Zivver-bericht te openen, vraagt Zivver u eerst om u als ontvanger te "
                "verifiëren, bijvoorbeeld met een code die Zivver zelf per sms stuurt. Die code "
                "opent het bericht, niet het bestand: het bestand opent u met het wachtwoord "
                "uit de sms van het Agentschap Integratie en Inburgering."
            )
        ]
