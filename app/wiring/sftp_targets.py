"""Where the ``sftp_push`` channel delivers: a recipient's own SFTP server, from the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Engine

from app.settings import Settings
from app.store.db import make_engine, transaction
from crypto.vault import SecretBox, VaultError
from exchange.models import RecipientSftp
from exchange.ports import ChannelError, SftpTarget

__all__ = ["sftp_targets", "sftp_targets_by_settings"]


def sftp_targets(engine: Engine, vault: SecretBox) -> Callable[[str], SftpTarget]:
    """A look-up of a recipient's server settings, read fresh on every call (a changed host key
    or client key applies to the next connection). The client key is kept sealed under the
    service key, bound to the recipient's id; it is opened only here, only for the connection."""

    def target(recipient_id: str) -> SftpTarget:
        with transaction(engine) as session:
            row = session.get(RecipientSftp, recipient_id)
            if row is None:
                raise ChannelError(
                    f"sftp_push: recipient {recipient_id} has no SFTP server registered"
                )
            sealed = row.private_key_sealed
            target = SftpTarget(
                host=row.host,
                port=row.port,
                username=row.username,
                host_key=row.host_key,
                path=row.path,
                return_path=row.return_path,
            )
        try:
            key = vault.open(sealed, recipient_id.encode())
        except VaultError:
            raise ChannelError(
                f"sftp_push: the client key for recipient {recipient_id} cannot be opened "
                "(another service key, or altered)"
            ) from None
        return replace(target, private_key_pem=key)

    return target


def sftp_targets_by_settings(settings: Settings, vault: SecretBox) -> Callable[[str], SftpTarget]:
    """The same look-up for `app.wiring.build_deps`, which is not handed an engine: each look-up
    opens its own and closes it again, so that no connection outlives the deps (a look-up
    happens once per SFTP connection, a few times an hour)."""

    def target(recipient_id: str) -> SftpTarget:
        engine = make_engine(settings)
        try:
            return sftp_targets(engine, vault)(recipient_id)
        finally:
            engine.dispose()

    return target
