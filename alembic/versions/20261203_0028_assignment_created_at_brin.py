"""ix_assignment_created_at is a BRIN index on PostgreSQL: a launch writes no B-tree entry for it

The index serves one read, fair load's week (`fairload._this_week`: tasks created this week,
OR'd in a bitmap with this campaign's). Tasks are written in created_at order, so a block
range index finds the week as well: 82 ms for the capped pass at 1.2M tasks against 80 ms
with the B-tree (bench/fairload.py, same minutes). A B-tree entry per task cost a launch to
900,000 members about 8 % of its assignment insert (docs/benchmarks.md, 2026-12-03).
SQLite has no BRIN and keeps the B-tree.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recreate(using: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_assignment_created_at", table_name="assignment")
    op.create_index(
        "ix_assignment_created_at", "assignment", ["created_at"], postgresql_using=using
    )


def upgrade() -> None:
    _recreate("brin")


def downgrade() -> None:
    _recreate("btree")
