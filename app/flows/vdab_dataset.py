"""The database and settings side of pseudonyms and of the ``vdab-pillar3`` dataset: where the
pseudonym key comes from, and the Art. 3 profile fields of the people VDAB returned.

The pure rules (what a return file must look like, how the dataset is made) are in
``exchange.vdab_return``; the HMAC itself is in ``crypto.pseudonyms``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.settings import Environment, Settings
from crypto.pseudonyms import Pseudonymiser, Purpose, load_pseudonym_key
from exchange.models import Integree
from exchange.selection import column_of as selection_column

__all__ = ["load_pseudonymiser", "profiles_for", "pseudonym_key", "pseudonym_key_file"]

_CHUNK = 500  # numbers per IN (...): well under SQLite's and PostgreSQL's parameter limits


def pseudonym_key_file(settings: Settings) -> Path:
    """Development only: where the pseudonym key lives when ``KBX_PSEUDONYM_KEY`` is not set."""
    return settings.data_dir / "pseudonym.key"


def pseudonym_key(settings: Settings) -> bytes:
    """The pseudonym key; a new key file only in development. Raises ``PseudonymKeyError``."""
    return load_pseudonym_key(
        env_key=settings.pseudonym_key,
        key_file=pseudonym_key_file(settings),
        create_if_missing=settings.env is not Environment.PRODUCTION,
    )


def load_pseudonymiser(settings: Settings, purpose: Purpose) -> Pseudonymiser:
    return Pseudonymiser(pseudonym_key(settings), purpose)


def profiles_for(
    session: Session, numbers: Collection[str], fields: Sequence[str], as_of: date
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(national_number, {field: value})`` for those of ``numbers`` KBI still holds, streamed in
    chunks. Fields are read as the exports read them (``age_category`` on ``as_of``, the end of
    the period the dataset describes)."""
    if "national_number" in fields:
        raise ValueError("the national number is not a profile field")
    ordered = sorted(numbers)
    columns = [selection_column(name, as_of) for name in fields]
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        query = select(Integree.national_number, *columns).where(
            Integree.national_number.in_(chunk)
        )
        for row in session.execute(query):
            yield row[0], dict(zip(fields, row[1:], strict=True))
