"""recipient channels, pending changes, sms messages, return flows

The recipient's own SFTP server and mailbox, four-eyes changes to recipients, the provider's view
of each key SMS, and the columns of runs that come back (VDAB) or derive from another run (BI).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("payload_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'applied', 'rejected')", name=op.f("ck_pending_changes_state")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_pending_changes_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_changes")),
    )
    with op.batch_alter_table("pending_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_changes_recipient_id"), ["recipient_id"], unique=False
        )

    op.create_table(
        "recipient_mail",
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "route IN ('secure_mail', 'zivver')", name=op.f("ck_recipient_mail_route")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_recipient_mail_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("recipient_id", name=op.f("pk_recipient_mail")),
    )
    op.create_table(
        "recipient_sftp",
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("host_key", sa.String(length=2000), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("return_path", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_recipient_sftp_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("recipient_id", name=op.f("pk_recipient_sftp")),
    )
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["export_runs.id"], name=op.f("fk_sms_messages_run_id_export_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
        sa.UniqueConstraint("sid", name=op.f("uq_sms_messages_sid")),
    )
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_messages_reference"), ["reference"], unique=False)
        batch_op.create_index(batch_op.f("ix_sms_messages_run_id"), ["run_id"], unique=False)

    with op.batch_alter_table("export_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("remote_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("return_file", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("return_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("return_rows", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sent_sealed", sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f("ix_export_runs_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_export_runs_parent_id_export_runs"), "export_runs", ["parent_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("export_runs", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_export_runs_parent_id_export_runs"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_export_runs_parent_id"))
        batch_op.drop_column("sent_sealed")
        batch_op.drop_column("returned_at")
        batch_op.drop_column("return_rows")
        batch_op.drop_column("return_sha256")
        batch_op.drop_column("return_file")
        batch_op.drop_column("remote_checked_at")
        batch_op.drop_column("parent_id")

    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_messages_run_id"))
        batch_op.drop_index(batch_op.f("ix_sms_messages_reference"))

    op.drop_table("sms_messages")
    op.drop_table("recipient_sftp")
    op.drop_table("recipient_mail")
    with op.batch_alter_table("pending_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_changes_recipient_id"))

    op.drop_table("pending_changes")
