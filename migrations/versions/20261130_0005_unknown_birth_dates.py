"""unknown birth dates

A national number may itself say that the birth date was unknown when it was issued (month 00,
day 00: ``850000...``); the KBI then has no birth date either. ``integrees.birth_date`` becomes
nullable so such a person is stored with an unknown birth date instead of refusing the whole
extract (docs/kbi-extract.md). kbx never makes a date up.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("integrees", schema=None) as batch_op:
        batch_op.alter_column("birth_date", existing_type=sa.Date(), nullable=True)


def downgrade() -> None:
    # The store is replaced by every import: people without a birth date cannot go back into a
    # schema that requires one, so they leave the store (re-import the extract after a downgrade).
    op.execute("DELETE FROM integrees WHERE birth_date IS NULL")
    with op.batch_alter_table("integrees", schema=None) as batch_op:
        batch_op.alter_column("birth_date", existing_type=sa.Date(), nullable=False)
