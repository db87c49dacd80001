"""tally_summary (task counts per campaign x organization x club) and member_tally (active
members per organization), kept by triggers

Every change to the rows a tally counts (assignments; a member's or group chat's organization,
club or reachability; club memberships) changes the summary in the same statement, so the same
transaction. PostgreSQL uses statement-level triggers over transition tables (a launch of
100,000 tasks does one aggregate upsert); SQLite has only row-level triggers.
`coordinator/tallies/summary.py` `recount_summary` repairs and reports any drift.

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "delivered", "acknowledged", "done", "declined", "expired")
COUNTS = (*STATUSES, "unreachable")
KEY = "campaign_id, organization_id, club_id"


def _apply(facts: str) -> str:
    """Add signed facts (campaign_id, organization_id, club_id, status, n, u) to the summary,
    in key order so that concurrent writers lock summary rows in the same order."""
    sums = ", ".join(f"SUM(CASE WHEN status = '{s}' THEN n ELSE 0 END)" for s in STATUSES)
    adds = ", ".join(f"{c} = tally_summary.{c} + excluded.{c}" for c in COUNTS)
    return (
        f"INSERT INTO tally_summary ({KEY}, {', '.join(COUNTS)}) "
        f"SELECT {KEY}, {sums}, SUM(u) FROM ({facts}) f WHERE true "
        f"GROUP BY {KEY} ORDER BY {KEY} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET {adds}"
    )


def _signed(flag: str, sign: str) -> str:
    return f"CASE WHEN {flag} THEN {sign} ELSE 0 END"


def _tasks(rows: str, sign: str) -> str:
    """Facts of task rows (campaign_id, member_id, group_chat_id, status): their recipient's
    organization line and each of its clubs' lines."""
    m_u = _signed("m.unreachable_at IS NOT NULL", sign)
    g_u = _signed("g.unreachable_at IS NOT NULL", sign)
    member = f"FROM {rows} r JOIN member m ON m.id = r.member_id"
    group = f"FROM {rows} r JOIN group_chat g ON g.id = r.group_chat_id"
    return " UNION ALL ".join(
        (
            f"SELECT r.campaign_id, m.organization_id, 0 AS club_id, r.status, {sign} AS n, "
            f"{m_u} AS u {member}",
            f"SELECT r.campaign_id, m.organization_id, mc.club_id, r.status, {sign}, {m_u} "
            f"{member} JOIN member_club mc ON mc.member_id = m.id",
            f"SELECT r.campaign_id, g.organization_id, 0, r.status, {sign}, {g_u} {group}",
            f"SELECT r.campaign_id, g.organization_id, g.club_id, r.status, {sign}, {g_u} "
            f"{group} WHERE g.club_id IS NOT NULL",
        )
    )


def _members(rows: str, sign: str) -> str:
    """Facts of every task of members as they were or are (id, organization_id, unreachable)."""
    u = _signed("mm.unreachable", sign)
    tasks = f"FROM {rows} mm JOIN assignment a ON a.member_id = mm.id"
    return (
        f"SELECT a.campaign_id, mm.organization_id, 0 AS club_id, a.status, {sign} AS n, {u} AS u "
        f"{tasks} UNION ALL "
        f"SELECT a.campaign_id, mm.organization_id, mc.club_id, a.status, {sign}, {u} "
        f"{tasks} JOIN member_club mc ON mc.member_id = mm.id"
    )


def _groups(rows: str, sign: str) -> str:
    """Facts of every task of group chats (id, organization_id, club_id, unreachable)."""
    u = _signed("gg.unreachable", sign)
    tasks = f"FROM {rows} gg JOIN assignment a ON a.group_chat_id = gg.id"
    return (
        f"SELECT a.campaign_id, gg.organization_id, 0 AS club_id, a.status, {sign} AS n, {u} AS u "
        f"{tasks} UNION ALL "
        f"SELECT a.campaign_id, gg.organization_id, gg.club_id, a.status, {sign}, {u} "
        f"{tasks} WHERE gg.club_id IS NOT NULL"
    )


def _clubs(rows: str, sign: str) -> str:
    """Facts of every task of members joining or leaving clubs (member_id, club_id)."""
    u = _signed("m.unreachable_at IS NOT NULL", sign)
    return (
        f"SELECT a.campaign_id, m.organization_id, p.club_id, a.status, {sign} AS n, {u} AS u "
        f"FROM {rows} p JOIN member m ON m.id = p.member_id "
        "JOIN assignment a ON a.member_id = p.member_id"
    )


def _task_row(ref: str) -> str:
    return (
        f"(SELECT {ref}.campaign_id AS campaign_id, {ref}.member_id AS member_id, "
        f"{ref}.group_chat_id AS group_chat_id, {ref}.status AS status)"
    )


def _member_row(ref: str) -> str:
    return (
        f"(SELECT {ref}.id AS id, {ref}.organization_id AS organization_id, "
        f"{ref}.unreachable_at IS NOT NULL AS unreachable)"
    )


def _group_row(ref: str) -> str:
    return (
        f"(SELECT {ref}.id AS id, {ref}.organization_id AS organization_id, "
        f"{ref}.club_id AS club_id, {ref}.unreachable_at IS NOT NULL AS unreachable)"
    )


def _club_row(ref: str) -> str:
    return f"(SELECT {ref}.member_id AS member_id, {ref}.club_id AS club_id)"


# When a change moves counts ({ne}: SQLite's IS NOT, PostgreSQL's IS DISTINCT FROM).
TASK_CHANGED = (
    "{o}.status {ne} {n}.status OR {o}.campaign_id {ne} {n}.campaign_id "
    "OR {o}.member_id {ne} {n}.member_id OR {o}.group_chat_id {ne} {n}.group_chat_id"
)
MEMBER_CHANGED = (
    "{o}.organization_id {ne} {n}.organization_id "
    "OR ({o}.unreachable_at IS NULL) {ne} ({n}.unreachable_at IS NULL)"
)
GROUP_CHANGED = (
    "{o}.organization_id {ne} {n}.organization_id OR {o}.club_id {ne} {n}.club_id "
    "OR ({o}.unreachable_at IS NULL) {ne} ({n}.unreachable_at IS NULL)"
)
MEMBER_COLUMNS = "{x}.id, {x}.organization_id, {x}.unreachable_at IS NOT NULL AS unreachable"
GROUP_COLUMNS = (
    "{x}.id, {x}.organization_id, {x}.club_id, {x}.unreachable_at IS NOT NULL AS unreachable"
)

# (trigger, table, event, facts of the change given (old rows, new rows) and a row builder)
SQLITE_TRIGGERS = (
    ("tally_task_insert", "assignment", "INSERT", None, _tasks(_task_row("NEW"), "1")),
    ("tally_task_delete", "assignment", "DELETE", None, _tasks(_task_row("OLD"), "-1")),
    (
        "tally_task_update",
        "assignment",
        "UPDATE OF status, campaign_id, member_id, group_chat_id",
        TASK_CHANGED.format(o="OLD", n="NEW", ne="IS NOT"),
        f"{_tasks(_task_row('OLD'), '-1')} UNION ALL {_tasks(_task_row('NEW'), '1')}",
    ),
    (
        "tally_member_update",
        "member",
        "UPDATE OF organization_id, unreachable_at",
        MEMBER_CHANGED.format(o="OLD", n="NEW", ne="IS NOT"),
        f"{_members(_member_row('OLD'), '-1')} UNION ALL {_members(_member_row('NEW'), '1')}",
    ),
    (
        "tally_group_update",
        "group_chat",
        "UPDATE OF organization_id, club_id, unreachable_at",
        GROUP_CHANGED.format(o="OLD", n="NEW", ne="IS NOT"),
        f"{_groups(_group_row('OLD'), '-1')} UNION ALL {_groups(_group_row('NEW'), '1')}",
    ),
    ("tally_club_join", "member_club", "INSERT", None, _clubs(_club_row("NEW"), "1")),
    ("tally_club_leave", "member_club", "DELETE", None, _clubs(_club_row("OLD"), "-1")),
)


def _pg_update_facts(kind: str) -> str:
    """Facts of an UPDATE statement over its transition tables: rows whose counted columns
    changed, taken away as they were and added as they are."""
    if kind == "assignment":
        cols, changed, build = (
            "{x}.campaign_id, {x}.member_id, {x}.group_chat_id, {x}.status",
            TASK_CHANGED,
            _tasks,
        )
    elif kind == "member":
        cols, changed, build = MEMBER_COLUMNS, MEMBER_CHANGED, _members
    else:
        cols, changed, build = GROUP_COLUMNS, GROUP_CHANGED, _groups
    pairs = "FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE " + changed.format(
        o="o", n="n", ne="IS DISTINCT FROM"
    )
    before = f"(SELECT {cols.format(x='o')} {pairs})"
    after = f"(SELECT {cols.format(x='n')} {pairs})"
    return f"{build(before, '-1')} UNION ALL {build(after, '1')}"


PG_TRIGGERS = (
    ("tally_task_insert", "assignment", "INSERT", "NEW TABLE AS new_rows", _tasks("new_rows", "1")),
    (
        "tally_task_delete",
        "assignment",
        "DELETE",
        "OLD TABLE AS old_rows",
        _tasks("old_rows", "-1"),
    ),
    (
        "tally_task_update",
        "assignment",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _pg_update_facts("assignment"),
    ),
    (
        "tally_member_update",
        "member",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _pg_update_facts("member"),
    ),
    (
        "tally_group_update",
        "group_chat",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _pg_update_facts("group_chat"),
    ),
    ("tally_club_join", "member_club", "INSERT", "NEW TABLE AS new_rows", _clubs("new_rows", "1")),
    (
        "tally_club_leave",
        "member_club",
        "DELETE",
        "OLD TABLE AS old_rows",
        _clubs("old_rows", "-1"),
    ),
)


def _apply_members(facts: str) -> str:
    """Add signed facts (organization_id, n) to the active members per organization."""
    return (
        "INSERT INTO member_tally (organization_id, active) "
        f"SELECT organization_id, SUM(n) FROM ({facts}) f WHERE true "
        "GROUP BY organization_id ORDER BY organization_id "
        "ON CONFLICT (organization_id) DO UPDATE SET active = member_tally.active + excluded.active"
    )


MEMBER_COUNT_CHANGED = (
    "{o}.organization_id {ne} {n}.organization_id "
    "OR ({o}.deactivated_at IS NULL) {ne} ({n}.deactivated_at IS NULL)"
)
SQLITE_MEMBER_TRIGGERS = (
    (
        "member_tally_insert",
        "INSERT",
        "NEW.deactivated_at IS NULL",
        "SELECT NEW.organization_id AS organization_id, 1 AS n",
    ),
    (
        "member_tally_delete",
        "DELETE",
        "OLD.deactivated_at IS NULL",
        "SELECT OLD.organization_id AS organization_id, -1 AS n",
    ),
    (
        "member_tally_update",
        "UPDATE OF organization_id, deactivated_at",
        MEMBER_COUNT_CHANGED.format(o="OLD", n="NEW", ne="IS NOT"),
        "SELECT OLD.organization_id AS organization_id, -1 AS n WHERE OLD.deactivated_at IS NULL "
        "UNION ALL SELECT NEW.organization_id, 1 WHERE NEW.deactivated_at IS NULL",
    ),
)
_PG_MOVED = "FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE ({}) AND ".format(
    MEMBER_COUNT_CHANGED.format(o="o", n="n", ne="IS DISTINCT FROM")
)
PG_MEMBER_TRIGGERS = (
    (
        "member_tally_insert",
        "INSERT",
        "NEW TABLE AS new_rows",
        "SELECT organization_id, 1 AS n FROM new_rows WHERE deactivated_at IS NULL",
    ),
    (
        "member_tally_delete",
        "DELETE",
        "OLD TABLE AS old_rows",
        "SELECT organization_id, -1 AS n FROM old_rows WHERE deactivated_at IS NULL",
    ),
    (
        "member_tally_update",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        f"SELECT o.organization_id, -1 AS n {_PG_MOVED} o.deactivated_at IS NULL UNION ALL "
        f"SELECT n.organization_id, 1 {_PG_MOVED} n.deactivated_at IS NULL",
    ),
)


def upgrade() -> None:
    op.create_table(
        "tally_summary",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=False),
        *(sa.Column(c, sa.Integer(), server_default="0", nullable=False) for c in COUNTS),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "organization_id", "club_id"),
    )
    op.create_table(
        "member_tally",
        sa.Column("organization_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("active", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("organization_id"),
    )
    # What exists already, counted once before any trigger runs.
    op.execute(_apply(_tasks("assignment", "1")))
    op.execute(
        _apply_members("SELECT organization_id, 1 AS n FROM member WHERE deactivated_at IS NULL")
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, table, event, when, facts in SQLITE_TRIGGERS:
            _sqlite_trigger(name, table, event, when, _apply(facts))
        for name, event, when, facts in SQLITE_MEMBER_TRIGGERS:
            _sqlite_trigger(name, "member", event, when, _apply_members(facts))
        return
    for name, table, event, transition, facts in PG_TRIGGERS:
        _pg_trigger(name, table, event, transition, _apply(facts))
    for name, event, transition, facts in PG_MEMBER_TRIGGERS:
        _pg_trigger(name, "member", event, transition, _apply_members(facts))


def _sqlite_trigger(name: str, table: str, event: str, when: str | None, body: str) -> None:
    guard = f" WHEN {when}" if when else ""
    op.execute(
        f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{guard} BEGIN {body}; END"
    )


def _pg_trigger(name: str, table: str, event: str, transition: str, body: str) -> None:
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {body}; RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    triggers = [(t[0], t[1]) for t in SQLITE_TRIGGERS]
    triggers += [(t[0], "member") for t in SQLITE_MEMBER_TRIGGERS]
    for name, table in triggers:
        if sqlite:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("member_tally")
    op.drop_table("tally_summary")
