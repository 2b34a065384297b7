"""Where the mail routes send a file: the recipient's registered mailbox (``recipient_mail``),
and the two route adapters built from the settings (a relay, or the dev capture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from app.settings import Environment, Settings
from app.store.db import make_engine, transaction
from channels.mail import (
    AddressLookup,
    MailTransport,
    SecureMailDelivery,
    SmtpRelay,
    SmtpSender,
    ZivverDelivery,
)
from channels.mail_capture import MailCapture
from exchange.models import RecipientMail
from exchange.ports import ChannelError, Delivery
from exchange.protocols import Channel

__all__ = ["mail_addresses", "mail_deliveries", "mail_outbox_path"]


def mail_outbox_path(settings: Settings) -> Path:
    return settings.data_dir / "mail-outbox"


def mail_addresses(engine: Engine) -> Callable[[str], tuple[str, str]]:
    """The mail routes' lookup: (registered address, route) of a recipient, read at delivery so
    that a changed registration counts at once. No registration is a channel error."""

    def lookup(recipient: str) -> tuple[str, str]:
        with transaction(engine) as session:
            row = session.get(RecipientMail, recipient)
            if row is None:
                raise ChannelError(f"recipient {recipient} has no registered mailbox")
            return row.address, row.route

    return lookup


def _addresses_for(settings: Settings) -> AddressLookup:
    # build_deps has no engine of its own: a delivery (rare) opens and disposes of one.
    def lookup(recipient: str) -> tuple[str, str]:
        engine = make_engine(settings)
        try:
            return mail_addresses(engine)(recipient)
        finally:
            engine.dispose()

    return lookup


def _transport(
    settings: Settings,
    route: str,
    *,
    host: str,
    port: int,
    security: str,
    username: str,
    password: str | None,
    sender: str,
) -> MailTransport:
    if not host:
        production = settings.env is Environment.PRODUCTION
        return MailCapture(mail_outbox_path(settings), route=route, production=production)
    relay = SmtpRelay(
        host=host,
        port=port,
        security=security,
        sender=sender,
        username=username,
        password=password,
        ca_file=settings.mail_ca_file,
    )
    return SmtpSender(relay, route=route)


def mail_deliveries(
    settings: Settings, addresses: AddressLookup | None = None
) -> dict[str, Delivery]:
    """Both mail channels, each over its own relay (or, in development, the capture). Raises
    ChannelError for settings that cannot work (plaintext, a missing password). In production a
    route without a relay host is left out."""
    lookup = addresses or _addresses_for(settings)
    production = settings.env is Environment.PRODUCTION
    deliveries: dict[str, Delivery] = {}
    # In production a route without a relay is switched off (a deployment may use Zivver only);
    # a run over it fails at request time with "channel not configured", never at delivery.
    if settings.secure_mail_host or not production:
        secure = _transport(
            settings,
            Channel.SECURE_MAIL.value,
            host=settings.secure_mail_host,
            port=settings.secure_mail_port,
            security=settings.secure_mail_security,
            username=settings.secure_mail_username,
            password=settings.secure_mail_password,
            sender=settings.secure_mail_from,
        )
        deliveries[Channel.SECURE_MAIL.value] = SecureMailDelivery(
            secure, sender=settings.secure_mail_from, addresses=lookup
        )
    if settings.zivver_host or not production:
        zivver = _transport(
            settings,
            Channel.ZIVVER.value,
            host=settings.zivver_host,
            port=settings.zivver_port,
            security=settings.zivver_security,
            username=settings.zivver_username,
            password=settings.zivver_password,
            sender=settings.zivver_from,
        )
        deliveries[Channel.ZIVVER.value] = ZivverDelivery(
            zivver, sender=settings.zivver_from, addresses=lookup
        )
    return deliveries
