"""several bots: the bot table (one row per bot, the default bot's state moved from bot_state),
which bot each chat talks to (bot_chat), the bot of each outbox row, updates keyed per bot

Update ids are counted per bot, so telegram_update's key becomes (bot_id, update_id); SQLite
changes a primary key only by copying the table (batch mode). Existing rows all belong to the
default bot, id 1.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from coordinator.base import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATE = (
    "bot_id",
    "username",
    "identity_at",
    "commands_at",
    "webhook_mode",
    "webhook_at",
    "last_error",
    "last_error_at",
)


def _state_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("bot_id", sa.BigInteger(), nullable=True),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("identity_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("commands_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("webhook_mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("webhook_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "bot",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        *_state_columns(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_bot_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot")),
        sa.UniqueConstraint("name", name=op.f("uq_bot_name")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_bot_organization_id")),
    )
    columns = ", ".join(STATE)
    op.execute(
        f"INSERT INTO bot (id, name, {columns}) SELECT id, 'default', {columns} FROM bot_state"
    )
    op.drop_table("bot_state")
    op.create_table(
        "bot_chat",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_bot_chat")),
    )
    op.add_column(
        "outbox_message",
        sa.Column("bot_id", sa.Integer(), server_default="1", nullable=False),
    )
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index(
        "ix_outbox_due", "outbox_message", ["status", "bot_id", "next_attempt_at"], unique=False
    )
    with op.batch_alter_table("telegram_update", recreate="always") as batch:
        batch.add_column(sa.Column("bot_id", sa.Integer(), server_default="1", nullable=False))
        batch.drop_constraint("pk_telegram_update", type_="primary")
        batch.create_primary_key("pk_telegram_update", ["bot_id", "update_id"])


def downgrade() -> None:
    # Another bot's updates and messages cannot be kept with the default bot's ids.
    op.execute("DELETE FROM telegram_update WHERE bot_id <> 1")
    with op.batch_alter_table("telegram_update", recreate="always") as batch:
        batch.drop_constraint("pk_telegram_update", type_="primary")
        batch.drop_column("bot_id")
        batch.create_primary_key("pk_telegram_update", ["update_id"])
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index(
        "ix_outbox_due", "outbox_message", ["status", "next_attempt_at"], unique=False
    )
    op.execute("DELETE FROM outbox_message WHERE bot_id <> 1")
    op.drop_column("outbox_message", "bot_id")
    op.drop_table("bot_chat")
    op.create_table(
        "bot_state",
        sa.Column("id", sa.Integer(), nullable=False),
        *_state_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_state")),
    )
    columns = ", ".join(STATE)
    op.execute(f"INSERT INTO bot_state (id, {columns}) SELECT id, {columns} FROM bot WHERE id = 1")
    op.drop_table("bot")
