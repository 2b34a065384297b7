"""protocol dates and the requests of municipalities

A date an admin records for a protocol that its text does not give (vdab-pillar3: the entry into
force of the samenwerkingsovereenkomst, seed 001 art. 5), and, on each run that answers a
municipality's request (art20-municipal, seed 000 overweging C), that request's date and the
municipality's own reference. The live-slot index no longer counts derived runs (a round trip's
datasets, ``parent_id``): VDAB receives the pseudonymised dataset of its own round trip (seed 001,
overweging F) in the period its round trip holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_OLD_LIVE = "state NOT IN ('refused', 'cancelled', 'failed')"
_NEW_LIVE = "state NOT IN ('refused', 'cancelled', 'failed') AND parent_id IS NULL"
_SLOT = ["protocol_id", "recipient_id", "period"]


def _slot_index(where: str) -> None:
    with op.batch_alter_table("export_runs") as batch:
        batch.create_index(
            "uq_export_runs_live_slot",
            _SLOT,
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def _drop_slot_index(where: str) -> None:
    with op.batch_alter_table("export_runs") as batch:
        batch.drop_index(
            "uq_export_runs_live_slot", sqlite_where=sa.text(where), postgresql_where=sa.text(where)
        )


def upgrade() -> None:
    op.create_table(
        "protocol_dates",
        sa.Column("protocol_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("protocol_id", "kind", name=op.f("pk_protocol_dates")),
    )
    with op.batch_alter_table("export_runs") as batch:
        batch.add_column(sa.Column("requested_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("request_ref", sa.String(length=64), nullable=True))
    _drop_slot_index(_OLD_LIVE)
    _slot_index(_NEW_LIVE)


def downgrade() -> None:
    _drop_slot_index(_NEW_LIVE)
    _slot_index(_OLD_LIVE)
    with op.batch_alter_table("export_runs") as batch:
        batch.drop_column("request_ref")
        batch.drop_column("requested_on")
    op.drop_table("protocol_dates")
