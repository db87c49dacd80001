"""browser sessions and sign-in attempts in the database: any web process serves any user

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-01 20:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import coordinator.base

revision: str = "0008"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", coordinator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", coordinator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", coordinator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_web_session_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_web_session_key_hash")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"])
    op.create_index(op.f("ix_web_session_expires_at"), "web_session", ["expires_at"])
    op.create_table(
        "signin_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", coordinator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_attempt")),
    )
    op.create_index(op.f("ix_signin_attempt_at"), "signin_attempt", ["at"])
    op.create_index("ix_signin_attempt_username_at", "signin_attempt", ["username", "at"])
    op.create_index("ix_signin_attempt_address_at", "signin_attempt", ["address", "at"])


def downgrade() -> None:
    op.drop_table("signin_attempt")
    op.drop_table("web_session")
