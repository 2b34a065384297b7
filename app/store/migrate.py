"""``kbx db upgrade``: Alembic migrations, then the reference recipients (idempotent)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select

from app.store.db import transaction
from app.store.refdata import municipalities
from exchange.models import Recipient
from exchange.recipients import AGENCIES

__all__ = ["alembic_config", "upgrade"]

_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    return config


def upgrade(engine: Engine) -> int:
    """Bring the schema to head and make sure every reference recipient exists; returns how many
    recipients were added."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return _sync_recipients(engine)


def _sync_recipients(engine: Engine) -> int:
    wanted = {
        m.nis_code: Recipient(
            id=m.nis_code, kind="municipality", name_nl=m.name_nl, province_nl=m.province_nl
        )
        for m in municipalities().current
    }
    wanted |= {
        rid: Recipient(id=rid, kind="agency", name_nl=name, province_nl=None)
        for rid, name in AGENCIES.items()
    }
    with transaction(engine) as session:
        present = set(session.scalars(select(Recipient.id)))
        missing = [r for rid, r in wanted.items() if rid not in present]
        session.add_all(missing)
    return len(missing)
