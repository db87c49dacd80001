"""partial indexes for the status page's delivery figures: task cards that were uncertain or
resent, and unreachable members

Both sets are small whatever a campaign's size, so counting through them keeps the status page
of a 90,000-task campaign from scanning its outbox rows and its targeted members.

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-02 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in coordinator/delivery/models.py (migrations keep their own copy of what they create).
RESENT_CARD = {
    "sqlite": "json_extract(payload, '$.resent') = 1",
    "postgresql": "(payload ->> 'resent') = 'true'",
}
UNREACHABLE = "unreachable_at IS NOT NULL"


def upgrade() -> None:
    resent = RESENT_CARD[op.get_bind().dialect.name]
    troubled = sa.text(f"kind = 'assignment' AND (status = 'uncertain' OR {resent})")
    op.create_index(
        "ix_outbox_troubled",
        "outbox_message",
        ["assignment_id"],
        sqlite_where=troubled,
        postgresql_where=troubled,
    )
    op.create_index(
        "ix_member_unreachable",
        "member",
        ["organization_id"],
        sqlite_where=sa.text(UNREACHABLE),
        postgresql_where=sa.text(UNREACHABLE),
    )


def downgrade() -> None:
    op.drop_index("ix_member_unreachable", table_name="member")
    op.drop_index("ix_outbox_troubled", table_name="outbox_message")
