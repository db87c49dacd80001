"""an index on assignment.created_at: a capped launch's week load reads this week's tasks only

Fair load's weekly cap counts each member's tasks written this week (`fairload._this_week`:
created_at in the week, or of this campaign). Without an index on created_at that is a scan of
every assignment ever written, on each capped pass; with it, a bitmap of this week's rows OR'd
with the campaign's (ix_assignment_campaign_status). The share's ask history reads every
assignment by design, so no index helps it (docs/benchmarks.md, 2026-12-02).

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_assignment_created_at", "assignment", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_assignment_created_at", table_name="assignment")
