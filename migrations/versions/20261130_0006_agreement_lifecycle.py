"""agreement lifecycle

Agreements become records with a lifecycle: the VCMP ceremony cadence of an accession, notice
and its end date, an end (art. 8) or a withdrawal, a suspension, and who proposed and approved
the agreement. A third kind, ``party``, holds an agency's own party to a protocol once a
transition concerns it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT_COLUMNS = (
    ("end_reason", 200),
    ("end_article", 200),
    ("suspension_reason", 200),
    ("suspension_article", 200),
)


def upgrade() -> None:
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cadence", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("notice_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("ends_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("end_kind", sa.String(length=16), nullable=True))
        for name, length in _TEXT_COLUMNS[:2]:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch_op.add_column(sa.Column("suspended_on", sa.Date(), nullable=True))
        for name, length in _TEXT_COLUMNS[2:]:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch_op.add_column(sa.Column("recorded_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(op.f("ck_agreements_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_agreements_kind"), "kind IN ('signature', 'accession', 'party')"
        )
        batch_op.create_check_constraint(
            op.f("ck_agreements_cadence"), "cadence IS NULL OR cadence IN ('yearly', 'two-yearly')"
        )
        batch_op.create_check_constraint(
            op.f("ck_agreements_end_kind"),
            "end_kind IS NULL OR end_kind IN ('notice', 'termination', 'withdrawal')",
        )


def downgrade() -> None:
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_agreements_end_kind"), type_="check")
        batch_op.drop_constraint(op.f("ck_agreements_cadence"), type_="check")
        batch_op.drop_constraint(op.f("ck_agreements_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_agreements_kind"), "kind IN ('signature', 'accession')"
        )
        for name in (
            "approved_by",
            "recorded_by",
            "suspension_article",
            "suspension_reason",
            "suspended_on",
            "end_article",
            "end_reason",
            "end_kind",
            "ends_on",
            "notice_on",
            "cadence",
        ):
            batch_op.drop_column(name)
