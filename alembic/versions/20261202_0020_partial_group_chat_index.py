"""assignment's group chat index only over tasks that have a group chat

A DM task (nearly every task of a launch) has no group chat, yet the index held an entry for
its NULL: index upkeep a launch paid per task for nothing (the foreign key's referenced-side
checks and the group tallies look up non-NULL group chats only).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_assignment_group_chat_id"
HAS_GROUP = sa.text("group_chat_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(INDEX, table_name="assignment")
    op.create_index(
        INDEX, "assignment", ["group_chat_id"], postgresql_where=HAS_GROUP, sqlite_where=HAS_GROUP
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="assignment")
    op.create_index(INDEX, "assignment", ["group_chat_id"])
