"""Wires the real adapters into the export flow, by settings (embedded defaults in dev)."""

from __future__ import annotations

from pathlib import Path

from app.flows.deps import ExportDeps
from app.registry import Registry
from app.settings import Environment, Settings
from app.wiring.mail_targets import mail_deliveries
from app.wiring.sftp_targets import sftp_targets_by_settings
from channels.drop_store import DropStore
from channels.sftp_push import SftpPush
from channels.sms_outbox import SmsOutbox
from channels.twilio_sms import TwilioKeySender, status_callback_url
from crypto.vault import SecretBox, VaultError, load_service_key
from exchange.ports import ChannelError, KeySender
from exchange.protocols import Channel

__all__ = [
    "StartupError",
    "build_deps",
    "drop_root",
    "host_key_file",
    "key_sender",
    "sms_outbox_path",
]


class StartupError(Exception):
    """kbx cannot start with these settings; the message says why."""


def drop_root(settings: Settings) -> Path:
    return settings.data_dir / "drop"


def host_key_file(settings: Settings) -> Path:
    return settings.data_dir / "sftp_host_ed25519"


def sms_outbox_path(settings: Settings) -> Path:
    return settings.data_dir / "sms-outbox.jsonl"


def key_sender(settings: Settings) -> KeySender:
    """Twilio, or the dev outbox (which refuses to exist in production)."""
    production = settings.env is Environment.PRODUCTION
    if settings.sms_provider == "twilio":
        callback = status_callback_url(settings.public_base_url)
        if production and not callback.startswith("https://"):
            raise ChannelError("KBX_PUBLIC_BASE_URL must be https:// for Twilio's status callbacks")
        if production and settings.twilio_base_url:
            raise ChannelError(
                "KBX_TWILIO_BASE_URL points at a test stand-in; refused in production"
            )
        return TwilioKeySender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token or "",
            status_callback=callback,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            sender=settings.twilio_from,
            timeout=settings.twilio_timeout_seconds,
            base_url=settings.twilio_base_url,
        )
    if settings.sms_provider == "outbox":
        return SmsOutbox(sms_outbox_path(settings), production=production, clock=settings.now)
    raise ChannelError(
        f"KBX_SMS_PROVIDER must be 'twilio' or 'outbox', not {settings.sms_provider!r}"
    )


def build_deps(settings: Settings, registry: Registry) -> ExportDeps:
    production = settings.env is Environment.PRODUCTION
    try:
        key = load_service_key(
            env_key=settings.secret_key,
            key_file=settings.data_dir / "service.key",
            create_if_missing=not production,
        )
        keys = key_sender(settings)
        mail = mail_deliveries(settings)  # secure_mail and zivver: a relay each, or dev capture
    except (VaultError, ChannelError) as exc:
        raise StartupError(str(exc)) from exc
    # One adapter for both directions of the recipient's own server (VDAB's return folder).
    push = SftpPush(sftp_targets_by_settings(settings, SecretBox(key)))
    return ExportDeps(
        settings=settings,
        registry=registry,
        vault=SecretBox(key),
        deliveries={
            Channel.SFTP_DROP.value: DropStore(drop_root(settings)),
            Channel.SFTP_PUSH.value: push,
            **mail,
        },
        keys=keys,
        returns={Channel.SFTP_PUSH.value: push},
    )
