"""Wires the real adapters into the export flow, by settings (embedded defaults in dev)."""

from __future__ import annotations

from pathlib import Path

from app.exports import ExportDeps
from app.registry import Registry
from app.settings import Environment, Settings
from channels.drop_store import DropStore
from channels.sms_outbox import SmsOutbox
from crypto.vault import SecretBox, VaultError, load_service_key
from exchange.ports import ChannelError

__all__ = ["StartupError", "build_deps", "drop_root", "host_key_file", "sms_outbox_path"]


class StartupError(Exception):
    """kbx cannot start with these settings; the message says why."""


def drop_root(settings: Settings) -> Path:
    return settings.data_dir / "drop"


def host_key_file(settings: Settings) -> Path:
    return settings.data_dir / "sftp_host_ed25519"


def sms_outbox_path(settings: Settings) -> Path:
    return settings.data_dir / "sms-outbox.jsonl"


def build_deps(settings: Settings, registry: Registry) -> ExportDeps:
    production = settings.env is Environment.PRODUCTION
    try:
        key = load_service_key(
            env_key=settings.secret_key,
            key_file=settings.data_dir / "service.key",
            create_if_missing=not production,
        )
        keys = SmsOutbox(sms_outbox_path(settings), production=production)
    except (VaultError, ChannelError) as exc:
        raise StartupError(str(exc)) from exc
    return ExportDeps(
        settings=settings,
        registry=registry,
        vault=SecretBox(key),
        delivery=DropStore(drop_root(settings)),
        keys=keys,
    )
