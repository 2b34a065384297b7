"""the Dutch summary of a proposed change; signing out of the console

The console shows what a second person decides on in Dutch (user-facing text Dutch first); the
English summary stays for the CLI, the API and the audit trail. Changes proposed before this
revision keep no Dutch summary (NULL): they are shown with their English one.

``users.signed_out_at``: when the account last signed out of the console. A console session
(a sealed cookie) that began before it is no longer accepted, so *Afmelden* ends the session on
the server too, not only in the browser that pressed it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pending_changes") as batch:
        batch.add_column(sa.Column("summary_nl", sa.String(200), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("signed_out_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("signed_out_at")
    with op.batch_alter_table("pending_changes") as batch:
        batch.drop_column("summary_nl")
