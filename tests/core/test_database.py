"""The database layer as configured: SQLite pragmas, immediate writers, UTC, append-only audit."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from coordinator.auth.models import AuditEvent
from coordinator.organizations.models import Organization
from tests.conftest import BACKEND


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite connection settings")
async def test_it_tunes_every_sqlite_connection(db):
    async with db.read() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 10000


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite locking")
async def test_it_makes_writers_wait_for_each_other_instead_of_failing(db):
    """Two writers that read first and write later: with BEGIN IMMEDIATE both succeed."""

    async def writer(name: str) -> None:
        async with db.write() as session:
            await session.execute(text("SELECT count(*) FROM organization"))
            await asyncio.sleep(0)  # let the other writer start its transaction
            session.add(Organization(name=name))

    await asyncio.gather(*(writer(f"org {n}") for n in range(5)))
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM organization"))).scalar() == 5


async def test_it_enforces_foreign_keys(db):
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            session.add(Organization(name="orphan", parent_id=999))


async def test_it_stores_utc_and_returns_aware_datetimes(db):
    local = datetime(2026, 11, 22, 9, 30, tzinfo=timezone(timedelta(hours=7)))
    async with db.write() as session:
        org = Organization(name="x", created_at=local)
        session.add(org)
    async with db.read() as session:
        again = await session.get(Organization, org.id)
    assert again is not None
    assert again.created_at == local
    assert again.created_at.utcoffset() == timedelta(0)


async def test_it_refuses_naive_datetimes(db):
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.write() as session:
            session.add(Organization(name="x", created_at=datetime(2026, 1, 1)))


async def test_it_keeps_the_audit_log_append_only(db):
    async with db.write() as session:
        session.add(AuditEvent(action="test"))
    for statement in ("UPDATE audit_event SET action = 'forged'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.write() as session:
                await session.execute(text(statement))
    async with db.read() as session:
        assert (await session.execute(text("SELECT action FROM audit_event"))).scalar() == "test"


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's deadlock detector")
async def test_it_runs_a_transaction_again_when_postgresql_aborts_it_in_a_deadlock(db):
    """Two transactions lock two rows in opposite orders: PostgreSQL aborts one of them, and
    `transaction` runs it again, so both changes land."""
    async with db.write() as session:
        session.add_all([Organization(name="a"), Organization(name="b")])
    first_locked = {name: asyncio.Event() for name in ("a", "b")}
    runs: list[str] = []

    def work(mine: str, theirs: str):
        async def run(session):
            runs.append(mine)
            await session.execute(
                text("UPDATE organization SET name = name || '+' || :me WHERE name LIKE :row"),
                {"me": mine, "row": f"{mine}%"},
            )
            first_locked[mine].set()
            await first_locked[theirs].wait()
            await session.execute(
                text("UPDATE organization SET name = name || '+' || :me WHERE name LIKE :row"),
                {"me": mine, "row": f"{theirs}%"},
            )

        return run

    await asyncio.wait_for(
        asyncio.gather(db.transaction(work("a", "b")), db.transaction(work("b", "a"))), 30
    )
    assert len(runs) == 3  # one side ran twice
    async with db.read() as session:
        names = set((await session.execute(text("SELECT name FROM organization"))).scalars())
    assert {n.split("+")[0] for n in names} == {"a", "b"}
    assert all(sorted(n.split("+")[1:]) == ["a", "b"] for n in names)


async def test_it_does_not_run_a_transaction_again_for_an_error_that_is_not_a_conflict(db):
    runs = []

    async def orphan(session):
        runs.append(1)
        session.add(Organization(name="orphan", parent_id=999))
        await session.flush()

    with pytest.raises(IntegrityError):
        await db.transaction(orphan)
    assert runs == [1]


@pytest.mark.skipif(BACKEND != "postgres", reason="turns are an advisory lock on PostgreSQL")
async def test_turns_let_one_holder_in_at_a_time_and_free_the_key_after(db):
    inside: list[str] = []
    first_in = asyncio.Event()
    let_go = asyncio.Event()

    async def holder(name: str, gate: asyncio.Event | None) -> None:
        async with db.turns(7, 42):
            inside.append(name)
            if gate is not None:
                first_in.set()
                await gate.wait()
            inside.append(f"/{name}")

    first = asyncio.create_task(holder("a", let_go))
    await first_in.wait()
    second = asyncio.create_task(holder("b", None))

    async def waiting() -> int:
        async with db.read() as session:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return int((await session.execute(text(query))).scalar_one())

    deadline = asyncio.get_running_loop().time() + 10
    while await waiting() == 0:
        assert asyncio.get_running_loop().time() < deadline, "b never asked for its turn"
        await asyncio.sleep(0.02)
    assert inside == ["a"], "b must wait while a holds the turn"
    let_go.set()
    await asyncio.gather(first, second)
    assert inside == ["a", "/a", "b", "/b"]
    async with db.turns(7, 42):  # freed: taken again at once
        pass
