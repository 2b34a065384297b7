"""Changes to a recipient's contact, keys and delivery settings: what they are and how each is
checked before a second person sees it. Pure; ``app.flows.recipient_changes`` stores and
applies them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import load_ssh_private_key
from email_validator import EmailNotValidError, validate_email

from crypto import KeyError_, parse_public_key
from exchange.recipients import ContactProblem, check_contact, mask_phone

__all__ = ["ChangeKind", "ChangeProblem", "Checked", "check_change"]

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REMOTE_PATH = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")


class ChangeKind(enum.StrEnum):
    CONTACT = "contact"  # the person who receives the key SMS
    KEY = "key"  # a public key for the SFTP drop
    SFTP = "sftp"  # the recipient's own SFTP server (sftp_push)
    MAIL = "mail"  # the recipient's registered mailbox and its route
    # Agreements (``app.flows.agreements``): a new signature or accession, and a transition of
    # one (notice, suspend, resume, end, withdraw). They are checked against the protocol's
    # definition and the record, so ``check_change`` does not know them.
    AGREEMENT = "agreement"
    AGREEMENT_STATE = "agreement_state"


class ChangeProblem(ValueError):
    """The proposed change is not acceptable; the message says why in English, ``nl`` in Dutch
    (never a secret)."""

    def __init__(self, message: str, nl: str) -> None:
        super().__init__(message)
        self.nl = nl


# What a person is told of a key kbx refuses; crypto's reason follows it in brackets, in English
# (it names what is wrong: an RSA key too short, a private key, options), never the key's text.
_KEY_NL = (
    "geen geldige publieke OpenSSH-sleutel: geef één regel '<type> <base64> [commentaar]' "
    "(het .pub-bestand), nooit een privésleutel"
)
_NAMES_NL = {
    "name": "de naam",
    "phone": "het gsm-nummer",
    "email": "het e-mailadres",
    "public_key": "de sleutel",
    "host": "de server",
    "username": "de gebruikersnaam",
    "private_key": "de privésleutel",
    "host_key": "de hostsleutel",
    "route": "de route",
    "address": "het adres",
}


@dataclass(frozen=True)
class Checked:
    payload: dict[str, Any]  # normalised; what is applied after approval
    summary: str  # what the approver sees and the audit trail keeps: no secret, no phone
    summary_nl: str  # the same, in Dutch: what the console shows


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ChangeProblem(f"{name} is missing", f"{_NAMES_NL.get(name, name)} ontbreekt")
    return value.strip()


def _check_contact(payload: dict[str, Any]) -> Checked:
    try:
        name, phone, email = check_contact(
            _text(payload, "name"), _text(payload, "phone"), _text(payload, "email")
        )
    except ContactProblem as exc:
        raise ChangeProblem(str(exc), exc.nl) from exc
    # What the approver must recognise (where the file passwords will go), and the audit trail
    # may keep: the phone masked, of the e-mail address only its domain, not the name.
    masked, domain = mask_phone(phone), email.rsplit("@", 1)[1]
    return Checked(
        {"name": name, "phone": phone, "email": email},
        f"new contact for the key SMS: mobile {masked}, e-mail at {domain}",
        f"nieuwe contactpersoon voor de sleutel-sms: gsm {masked}, e-mail bij {domain}",
    )


def _check_key(payload: dict[str, Any]) -> Checked:
    try:
        key = parse_public_key(_text(payload, "public_key"))
    except KeyError_ as exc:
        raise ChangeProblem(str(exc), f"de sleutel is {_KEY_NL} ({exc})") from exc
    return Checked(
        {"public_key": key.line},
        f"add drop key {key.algorithm} {key.fingerprint}",
        f"dropsleutel {key.algorithm} {key.fingerprint} toevoegen",
    )


def _check_sftp(payload: dict[str, Any]) -> Checked:
    host = _text(payload, "host")
    if not _HOST.match(host):
        raise ChangeProblem(
            "host is not a host name or IP address", "de server is geen hostnaam of IP-adres"
        )
    port = payload.get("port")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ChangeProblem(
            "port must be a number from 1 to 65535", "de poort moet een getal van 1 tot 65535 zijn"
        )
    username = _text(payload, "username")
    if not _USER.match(username):
        raise ChangeProblem(
            "username may hold letters, digits, '.', '_' and '-' only",
            "de gebruikersnaam mag alleen letters, cijfers, '.', '_' en '-' bevatten",
        )
    private_key = _text(payload, "private_key")
    try:
        load_ssh_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ChangeProblem(
            "private_key is not an unencrypted OpenSSH private key (kbx seals it itself)",
            "de privésleutel is geen onversleutelde OpenSSH-privésleutel (kbx verzegelt ze zelf)",
        ) from exc
    try:
        host_key = parse_public_key(_text(payload, "host_key"))
    except KeyError_ as exc:
        raise ChangeProblem(f"host_key: {exc}", f"de hostsleutel is {_KEY_NL} ({exc})") from exc
    paths: dict[str, str | None] = {}
    for name in ("path", "return_path"):
        value = payload.get(name)
        if value is None or value == "":
            if name == "path":
                raise ChangeProblem("path is missing", "de map ontbreekt")
            paths[name] = None
            continue
        if not isinstance(value, str) or not _REMOTE_PATH.match(value) or ".." in value.split("/"):
            raise ChangeProblem(
                f"{name} is not a plain remote folder", f"{name} is geen gewone map op de server"
            )
        paths[name] = value
    return Checked(
        {
            "host": host,
            "port": port,
            "username": username,
            "private_key": private_key + "\n",  # OpenSSH key files end with a newline
            "host_key": host_key.line,
            **paths,
        },
        f"sftp push to {username}@{host}:{port}{paths['path']}, host key {host_key.fingerprint}",
        f"SFTP-push naar {username}@{host}:{port}{paths['path']}, hostsleutel "
        f"{host_key.fingerprint}",
    )


def _check_mail(payload: dict[str, Any]) -> Checked:
    route = _text(payload, "route")
    if route not in ("secure_mail", "zivver"):
        raise ChangeProblem(
            "route must be secure_mail or zivver", "de route moet secure_mail of zivver zijn"
        )
    try:
        address = validate_email(_text(payload, "address"), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ChangeProblem(
            f"the address is not valid: {exc}", "het adres is geen geldig e-mailadres"
        ) from exc
    domain = address.rsplit("@", 1)[1]
    # The address itself is a functional mailbox, but the audit trail only needs its domain.
    return Checked(
        {"address": address, "route": route},
        f"mail by {route} to a mailbox at {domain}",
        f"mail via {route} naar een mailbox bij {domain}",
    )


_CHECKS = {
    ChangeKind.CONTACT: _check_contact,
    ChangeKind.KEY: _check_key,
    ChangeKind.SFTP: _check_sftp,
    ChangeKind.MAIL: _check_mail,
}


def check_change(kind: ChangeKind, payload: dict[str, Any]) -> Checked:
    """Checks a proposed contact, key, SFTP server or mailbox. Raises ``ChangeProblem``."""
    check = _CHECKS.get(kind)
    if check is None:
        raise ChangeProblem(
            f"a {kind.value} change is checked by its own flow",
            f"een wijziging van soort {kind.value} wordt elders nagekeken",
        )
    return check(payload)
