"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integrees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("national_number", sa.String(length=11), nullable=False),
        sa.Column("number_kind", sa.String(length=3), nullable=False),
        sa.Column("last_name", sa.String(length=48), nullable=False),
        sa.Column("first_name", sa.String(length=48), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("nationality", sa.String(length=2), nullable=True),
        sa.Column("nis_code", sa.String(length=5), nullable=False),
        sa.Column("street", sa.String(length=100), nullable=True),
        sa.Column("house_number", sa.String(length=16), nullable=True),
        sa.Column("postal_code", sa.String(length=4), nullable=True),
        sa.Column("city", sa.String(length=48), nullable=True),
        sa.Column("email", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("target_group", sa.String(length=8), nullable=False),
        sa.Column("target_group_since", sa.Date(), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("contract_signed_on", sa.Date(), nullable=True),
        sa.Column("certificate_on", sa.Date(), nullable=True),
        sa.Column("obligation_since", sa.Date(), nullable=True),
        sa.Column("obligation_met_on", sa.Date(), nullable=True),
        sa.Column("contact_language", sa.String(length=2), nullable=True),
        sa.Column("nt2_level", sa.String(length=2), nullable=True),
        sa.Column("civic_orientation_status", sa.String(length=16), nullable=True),
        sa.Column("pilot_consent", sa.Boolean(), nullable=True),
        sa.Column("education_level", sa.String(length=8), nullable=True),
        sa.Column("kbi_region", sa.String(length=16), nullable=True),
        sa.Column("residence_status", sa.String(length=24), nullable=True),
        sa.Column("trajectory_type", sa.String(length=8), nullable=True),
        sa.Column("vdab_referral_on", sa.Date(), nullable=True),
        sa.Column("career_orientation_decision", sa.String(length=16), nullable=True),
        sa.Column("career_orientation_reason", sa.String(length=16), nullable=True),
        sa.Column("language_learning_ability", sa.String(length=8), nullable=True),
        sa.Column("diploma_recognition_referral", sa.Boolean(), nullable=True),
        sa.Column("diploma_recognition_result", sa.String(length=24), nullable=True),
        sa.Column("living_wage", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrees")),
        sa.UniqueConstraint("national_number", name=op.f("uq_integrees_national_number")),
    )
    with op.batch_alter_table("integrees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_integrees_nis_code"), ["nis_code"], unique=False)

    op.create_table(
        "recipients",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name_nl", sa.String(length=120), nullable=False),
        sa.Column("province_nl", sa.String(length=48), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('municipality', 'agency')", name=op.f("ck_recipients_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipients")),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("protocol_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("in_force_on", sa.Date(), nullable=True),
        sa.Column("document_ref", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('signature', 'accession')", name=op.f("ck_agreements_kind")),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"], name=op.f("fk_agreements_recipient_id_recipients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.UniqueConstraint(
            "recipient_id", "protocol_id", "kind", name=op.f("uq_agreements_recipient_id")
        ),
    )
    op.create_table(
        "export_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.String(length=48), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lookback_years", sa.Integer(), nullable=True),
        sa.Column("definition_hash", sa.String(length=80), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"], name=op.f("fk_export_runs_recipient_id_recipients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_runs")),
    )
    with op.batch_alter_table("export_runs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_export_runs_live_slot",
            ["protocol_id", "recipient_id", "period"],
            unique=True,
            sqlite_where=sa.text("state NOT IN ('refused', 'cancelled', 'failed')"),
            postgresql_where=sa.text("state NOT IN ('refused', 'cancelled', 'failed')"),
        )

    op.create_table(
        "recipient_contacts",
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_recipient_contacts_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("recipient_id", name=op.f("pk_recipient_contacts")),
    )
    op.create_table(
        "recipient_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=2000), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_recipient_keys_recipient_id_recipients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_keys")),
        sa.UniqueConstraint(
            "recipient_id", "fingerprint", name=op.f("uq_recipient_keys_recipient_id")
        ),
    )
    with op.batch_alter_table("recipient_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recipient_keys_recipient_id"), ["recipient_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recipient_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recipient_keys_recipient_id"))

    op.drop_table("recipient_keys")
    op.drop_table("recipient_contacts")
    with op.batch_alter_table("export_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_export_runs_live_slot",
            sqlite_where=sa.text("state NOT IN ('refused', 'cancelled', 'failed')"),
            postgresql_where=sa.text("state NOT IN ('refused', 'cancelled', 'failed')"),
        )

    op.drop_table("export_runs")
    op.drop_table("agreements")
    op.drop_table("recipients")
    with op.batch_alter_table("integrees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integrees_nis_code"))

    op.drop_table("integrees")
