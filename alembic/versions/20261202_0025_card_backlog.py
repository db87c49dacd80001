"""card_backlog: the task cards of a launch that the senders queue, a chunk at a time

A national launch (900,000 tasks) wrote its 900,000 outbox rows in its own transaction: 45 %
of its PostgreSQL CPU. Now it queues the cards of its first chunk of tasks and records the
rest here, an id range per launch; the senders' leases queue the next chunk when they come up
short (coordinator/delivery/backlog.py).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import coordinator.base
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "card_backlog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("after_id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("due", coordinator.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_card_backlog_campaign_id_campaign")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_backlog")),
    )
    op.create_index(
        op.f("ix_card_backlog_campaign_id"), "card_backlog", ["campaign_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_card_backlog_campaign_id"), table_name="card_backlog")
    op.drop_table("card_backlog")
