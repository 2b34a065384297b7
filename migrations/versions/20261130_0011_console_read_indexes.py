"""indexes for what the console reads on every request

- ``ix_export_runs_resend_asked``: the overview lists, on every request, the runs whose key
  resend waits for a second person (``resend_requested_by`` set). Without an index that read
  every run in id order (5,000 runs: ~0.6 ms of the page); the partial index holds only those
  few runs, in id order.
- ``ix_audit_events_subject_seq``: a run's page reads its timeline (the events about
  ``run:N``), a recipient's page and the audit filters read the events about a subject, newest
  first. Without an index each read scanned the whole trail (100,000 events: ~12 ms a page, and
  the trail only grows).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ASKED = sa.text("resend_requested_by IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_export_runs_resend_asked",
        "export_runs",
        ["id"],
        sqlite_where=_ASKED,
        postgresql_where=_ASKED,
    )
    op.create_index("ix_audit_events_subject_seq", "audit_events", ["subject", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject_seq", table_name="audit_events")
    op.drop_index("ix_export_runs_resend_asked", table_name="export_runs")
