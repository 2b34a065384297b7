"""an index on the state of export runs

The console's overview asks for the runs in each of five states on every request (waiting for
approval, in progress, recently refused); without an index each question scanned every run
(5,000 runs: ~0.5 ms each, most of the page's time).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_export_runs_state", "export_runs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_export_runs_state", table_name="export_runs")
