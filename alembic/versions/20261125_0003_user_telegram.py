"""users' own Telegram link: leads and leadership receive digests in Telegram

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user", sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
    op.create_index("uq_user_telegram_user_id", "user", ["telegram_user_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_user_telegram_user_id", table_name="user")
    op.drop_column("user", "telegram_user_id")
