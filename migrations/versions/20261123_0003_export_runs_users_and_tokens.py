"""export runs, users and tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('operator', 'approver', 'auditor', 'admin', 'vsb')",
            name=op.f("ck_users_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("export_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("refusal", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("row_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("field_list", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("file_name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("file_size", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("file_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("password_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("password_destroyed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("key_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resend_requested_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_export_runs_batch_id"), ["batch_id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_export_runs_reference"), ["reference"])


def downgrade() -> None:
    with op.batch_alter_table("export_runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_export_runs_reference"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_export_runs_batch_id"))
        batch_op.drop_column("failure")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("purged_at")
        batch_op.drop_column("fetched_at")
        batch_op.drop_column("resend_requested_by")
        batch_op.drop_column("key_sent_at")
        batch_op.drop_column("password_destroyed_at")
        batch_op.drop_column("password_sealed")
        batch_op.drop_column("file_sha256")
        batch_op.drop_column("file_size")
        batch_op.drop_column("file_name")
        batch_op.drop_column("field_list")
        batch_op.drop_column("row_count")
        batch_op.drop_column("state_changed_at")
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approved_by")
        batch_op.drop_column("refusal")
        batch_op.drop_column("batch_id")
        batch_op.drop_column("reference")

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
