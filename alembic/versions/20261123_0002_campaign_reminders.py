"""campaign reminders: hours before the deadline, and whether quiet hours may be used

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
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(
            sa.Column("reminder_hours", sa.JSON(), nullable=False, server_default="[24, 2]")
        )
        batch.add_column(
            sa.Column(
                "remind_in_quiet_hours", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("remind_in_quiet_hours")
        batch.drop_column("reminder_hours")
