"""fair load: a weekly cap on tasks per volunteer (per organization; the deployment's is a
setting), a campaign's share of each organization's members to ask, and the tasks held back
from volunteers at their cap

SQLite adds a column with its CHECK constraint in one ALTER TABLE (a column's own check does
not stop a later DROP COLUMN); PostgreSQL adds the column, then the named constraint.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coordinator.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("campaign", "ask_share_percent", "ask_share", "ask_share_percent BETWEEN 1 AND 100"),
    ("organization", "weekly_task_cap", "weekly_task_cap", "weekly_task_cap >= 1"),
)


def _add_checked(table: str, column: str, name: str, check: str) -> None:
    rule = f"{column} IS NULL OR {check}"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
            f"CONSTRAINT ck_{table}_{name} CHECK ({rule})"
        )
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, rule)


def upgrade() -> None:
    for table, column, name, check in COLUMNS:
        _add_checked(table, column, name, check)
    op.create_table(
        "held_task",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("held_at", coordinator.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_held_task_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_held_task_member_id_member")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "member_id", name=op.f("pk_held_task")),
    )
    op.create_index(op.f("ix_held_task_member_id"), "held_task", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_held_task_member_id"), table_name="held_task")
    op.drop_table("held_task")
    for table, column, name, _ in reversed(COLUMNS):
        if op.get_bind().dialect.name != "sqlite":
            op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.drop_column(column)
