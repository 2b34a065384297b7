"""rate limits kept in the database

The console's failed-login throttle and the VSB check's limit were counted in the memory of the
one HTTP process; with ``kbx serve --workers N`` each process would have allowed a client its
own full quota, and a restart forgot every count. A row per counted hit (the key only as its
SHA-256) makes every process and every restart count against one window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hits")),
    )
    op.create_index("ix_rate_limit_hits_kind_key_at", "rate_limit_hits", ["kind", "key_hash", "at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hits_kind_key_at", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
