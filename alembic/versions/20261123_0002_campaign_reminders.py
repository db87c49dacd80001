"""campaign reminders: hours before the deadline, and whether quiet hours may be used

Plain ADD/DROP COLUMN, not batch mode: on SQLite batch mode rebuilds the table, and dropping a
table that other rows reference fails with foreign keys on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "campaign",
        sa.Column("reminder_hours", sa.JSON(), nullable=False, server_default="[24, 2]"),
    )
    op.add_column(
        "campaign",
        sa.Column(
            "remind_in_quiet_hours", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.drop_column("campaign", "remind_in_quiet_hours")
    op.drop_column("campaign", "reminder_hours")
