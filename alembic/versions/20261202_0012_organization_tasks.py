"""focal_point and organization_task: campaigns delivered through organizations (mode `org`)

A campaign in delivery mode `org` is handed to each targeted organization as an organization
task, sent to its focal points; they pass it on to their own members, clubs, group chats or
sub-organizations (which get tasks of their own).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_MODES = "delivery_mode IN ('dm','group')"
NEW_MODES = "delivery_mode IN ('dm','group','org')"


def _modes(old: str, new: str) -> None:
    """Change campaign's delivery-mode check. On SQLite, by the documented procedure for
    relaxing a CHECK constraint (rewrite the stored CREATE TABLE): copying the table, as batch
    mode does, would run the implicit DELETE of DROP TABLE with foreign keys on, and cascade
    to its content items."""
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_campaign_delivery_mode"), "campaign", type_="check")
        op.create_check_constraint(op.f("ck_campaign_delivery_mode"), "campaign", new)
        return
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text(
            "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
            "WHERE type = 'table' AND name = 'campaign'"
        ),
        {"old": old, "new": new},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version or 0) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _modes(OLD_MODES, NEW_MODES)
    op.create_table(
        "focal_point",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_focal_point_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_focal_point_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_focal_point")),
    )
    op.create_index(op.f("ix_focal_point_user_id"), "focal_point", ["user_id"])
    op.create_table(
        "organization_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("parent_task_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("passed_on_how", sa.JSON(), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("acted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passed_on_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','received','passed_on','declined')",
            name=op.f("ck_organization_task_status"),
        ),
        sa.ForeignKeyConstraint(
            ["acted_by_user_id"],
            ["user.id"],
            name=op.f("fk_organization_task_acted_by_user_id_user"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_organization_task_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_organization_task_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_task_id"],
            ["organization_task.id"],
            name=op.f("fk_organization_task_parent_task_id_organization_task"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_task")),
        sa.UniqueConstraint(
            "campaign_id",
            "organization_id",
            name=op.f("uq_organization_task_campaign_id_organization_id"),
        ),
    )
    for column in ("campaign_id", "organization_id", "parent_task_id"):
        op.create_index(op.f(f"ix_organization_task_{column}"), "organization_task", [column])


def downgrade() -> None:
    for column in ("campaign_id", "organization_id", "parent_task_id"):
        op.drop_index(op.f(f"ix_organization_task_{column}"), table_name="organization_task")
    op.drop_table("organization_task")
    op.drop_index(op.f("ix_focal_point_user_id"), table_name="focal_point")
    op.drop_table("focal_point")
    op.execute("UPDATE campaign SET delivery_mode = 'dm' WHERE delivery_mode = 'org'")
    _modes(NEW_MODES, OLD_MODES)
