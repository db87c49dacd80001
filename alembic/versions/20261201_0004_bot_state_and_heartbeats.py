"""the bot's identity and set-up (bot_state), loop heartbeats, failed updates kept with why

Revision ID: 0004
Revises: 0008
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from coordinator.base import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=True),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("identity_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("commands_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("webhook_mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("webhook_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_state")),
    )
    op.create_table(
        "loop_heartbeat",
        sa.Column("process", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("loop", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_ok_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process", "loop", name=op.f("pk_loop_heartbeat")),
    )
    op.add_column("telegram_update", sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("telegram_update", sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("telegram_update", "error")
    op.drop_column("telegram_update", "failed_at")
    op.drop_table("loop_heartbeat")
    op.drop_table("bot_state")
