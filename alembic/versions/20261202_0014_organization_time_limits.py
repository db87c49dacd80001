"""time limits of organization tasks: a reminder to the focal points, a note to the parent
organization's, an optional automatic pass-on; and a delivery mode that follows the targets

Campaigns that exist get the defaults (6 h, then 12 h, no automatic pass-on) and keep the
delivery mode they have.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coordinator.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOURS = ("org_remind_after_hours", "org_escalate_after_hours", "org_auto_pass_on_after_hours")
STEPS = ("reminded_at", "escalated_at", "auto_passed_on_at")


def upgrade() -> None:
    op.add_column(
        "campaign",
        sa.Column("delivery_mode_auto", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    for name in HOURS:
        op.add_column("campaign", sa.Column(name, sa.Integer(), nullable=True))
    op.execute("UPDATE campaign SET org_remind_after_hours = 6, org_escalate_after_hours = 12")
    for name in STEPS:
        op.add_column(
            "organization_task",
            sa.Column(name, coordinator.base.UTCDateTime(timezone=True), nullable=True),
        )


def downgrade() -> None:
    for table, names in (("organization_task", STEPS), ("campaign", (*HOURS, "delivery_mode_auto"))):
        for name in names:
            with op.batch_alter_table(table, recreate="never") as batch:
                batch.drop_column(name)
