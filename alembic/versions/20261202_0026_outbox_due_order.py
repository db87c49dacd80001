"""ix_outbox_due ends with id: a claim reads its rows in index order and stops at its limit

The sender claims due rows ORDER BY next_attempt_at, id LIMIT n. A launch queues its first
20,000 cards with one next_attempt_at, and without id in the index PostgreSQL read and sorted
every pending row on each claim: 25 ms a round at 20,000 pending, 4 ms with the index in order
(docs/benchmarks.md, 2026-12-02).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02 20:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index(
        "ix_outbox_due", "outbox_message", ["status", "bot_id", "next_attempt_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.create_index("ix_outbox_due", "outbox_message", ["status", "bot_id", "next_attempt_at"])
