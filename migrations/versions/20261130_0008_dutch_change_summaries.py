"""the Dutch summary of a proposed change

The console shows what a second person decides on in Dutch (user-facing text Dutch first); the
English summary stays for the CLI, the API and the audit trail. Changes proposed before this
revision keep no Dutch summary (NULL): they are shown with their English one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pending_changes") as batch:
        batch.add_column(sa.Column("summary_nl", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pending_changes") as batch:
        batch.drop_column("summary_nl")
