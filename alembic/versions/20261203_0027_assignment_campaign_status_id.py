"""ix_assignment_campaign_status ends with id: a task card chunk is a range scan

A launch queues its cards, and the senders their top-ups, in chunks of task ids:
campaign_id = c AND status = 'pending' AND id in (after, last]. Without id in the index
PostgreSQL walked every pending task of the campaign and filtered the range out of them:
318 ms for a chunk of 20,000 of a 900,000-task launch, 65 ms with id in the index
(docs/benchmarks.md, 2026-12-03). The index serves every query it served before.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_assignment_campaign_status", table_name="assignment")
    op.create_index("ix_assignment_campaign_status", "assignment", ["campaign_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_assignment_campaign_status", table_name="assignment")
    op.create_index("ix_assignment_campaign_status", "assignment", ["campaign_id", "status"])
