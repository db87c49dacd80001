"""campaign approval under the agreement: the submitted and approved statuses, and who
reviewed a submission, when, with which comment

SQLite cannot alter a CHECK constraint, and copying the campaign table would break the
foreign keys of its many children; widening (or narrowing) the list of statuses changes no
stored row, so there the table's SQL is rewritten in place, the procedure SQLite documents for
such changes (https://www.sqlite.org/lang_altertable.html, "otheralter").

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coordinator.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status IN ('draft','scheduled','active','closed','cancelled')"
NEW = "status IN ('draft','submitted','approved','scheduled','active','closed','cancelled')"
FK = "fk_campaign_reviewed_by_user_id_user"
TIMES = ("submitted_at", "reviewed_at")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _status_check(old: str, new: str) -> None:
    if not _sqlite():
        op.drop_constraint(op.f("ck_campaign_status"), "campaign", type_="check")
        op.create_check_constraint(op.f("ck_campaign_status"), "campaign", new)
        return
    version = op.get_bind().exec_driver_sql("PRAGMA schema_version").scalar_one()
    op.execute("PRAGMA writable_schema=ON")
    op.get_bind().exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
        (old, new, "campaign"),
    )
    op.execute(f"PRAGMA schema_version={int(version) + 1}")
    op.execute("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    for name in TIMES:
        op.add_column(
            "campaign", sa.Column(name, coordinator.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.add_column("campaign", sa.Column("review_comment", sa.Text(), nullable=True))
    if _sqlite():
        op.execute(
            f'ALTER TABLE campaign ADD COLUMN reviewed_by_user_id INTEGER CONSTRAINT {FK} '
            'REFERENCES "user" (id)'
        )
    else:
        op.add_column("campaign", sa.Column("reviewed_by_user_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(FK), "campaign", "user", ["reviewed_by_user_id"], ["id"])
    _status_check(OLD, NEW)


def downgrade() -> None:
    # Waiting submissions go back to their drafters; approved ones stay drafts to schedule.
    op.execute("UPDATE campaign SET status = 'draft' WHERE status IN ('submitted', 'approved')")
    _status_check(NEW, OLD)
    if not _sqlite():
        op.drop_constraint(op.f(FK), "campaign", type_="foreignkey")
    for name in ("reviewed_by_user_id", "review_comment", *TIMES):
        with op.batch_alter_table("campaign", recreate="never") as batch:
            batch.drop_column(name)
