"""protocol dates and the requests of municipalities

A date an admin records for a protocol that its text does not give (vdab-pillar3: the entry into
force of the samenwerkingsovereenkomst, seed 001 art. 5), and, on each run that answers a
municipality's request (art20-municipal, seed 000 overweging C), that request's date and the
municipality's own reference.

Revision ID: 20261130_0007
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261130_0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def downgrade() -> None:
    with op.batch_alter_table("export_runs") as batch:
        batch.drop_column("request_ref")
        batch.drop_column("requested_on")
    op.drop_table("protocol_dates")
