"""Several `coordinator worker` processes on PostgreSQL share one Telegram budget: real
processes, real HTTP, the sandbox's limits on. One sender is elected; when it is killed, a
standby takes over and finishes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlmodel import col, func, select

from coordinator.base import utcnow
from coordinator.bots.sender import SENDER_LOCK
from coordinator.campaigns import service as campaigns
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import Member
from coordinator.sandbox.run import running_sandbox
from coordinator.sandbox.state import World
from tests.conftest import BACKEND
from tests.workers import TOKEN, start_worker, stop_workers

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="workers share one budget through PostgreSQL"
)
VOLUNTEERS = int(os.environ.get("COORDINATOR_TEST_BUDGET_VOLUNTEERS", "600"))


async def volunteers(world, sandbox, count: int) -> list[int]:
    people = [sandbox.world.add_person(f"v{n}", None, "vi").id for n in range(count)]
    async with world.db.write() as session:
        await session.execute(
            insert(Member),
            [
                {
                    "organization_id": world.org["commune"],
                    "display_name": f"v{n}",
                    "telegram_user_id": telegram_id,
                    "locale": "vi",
                    "created_at": utcnow(),
                }
                for n, telegram_id in enumerate(people)
            ],
        )
    return people


async def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not before the deadline")


async def sender_backend(db) -> int | None:
    """The database session holding the sender's lock, if any."""
    async with db.read() as session:
        return await session.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :high AND objid = :low "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"high": SENDER_LOCK >> 32, "low": SENDER_LOCK & 0xFFFFFFFF},
        )


async def leader_process(db, workers, instead_of: int | None = None) -> tuple[int, int]:
    """Which worker leads (its pid, and its database session's): the one whose connection
    holds the sender's lock; with `instead_of`, a session other than that one."""

    async def elected() -> int | None:
        backend = await sender_backend(db)
        return backend if backend != instead_of else None

    backend = await wait_for(elected, 20, "a sender is elected")
    async with db.read() as session:
        port = await session.scalar(
            text("SELECT client_port FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
        )
    for worker in workers:
        if port in local_ports(worker.pid):
            return worker.pid, backend
    raise AssertionError("no worker holds the sender's lock")


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
async def sandbox():
    async with running_sandbox(World(TOKEN)) as running:
        running.world.limits.enabled = True
        yield running


@pytest.fixture
async def workers(world, sandbox, tmp_path):
    started = [
        start_worker(world.db.url, sandbox.url, tmp_path / f"worker{n}.log") for n in range(3)
    ]
    yield started
    for worker in started:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)

    # The sandbox runs on this event loop: keep it serving while the workers shut down.
    async def stopped() -> bool:
        return all(w.poll() is not None for w in started)

    with contextlib.suppress(AssertionError):
        await wait_for(stopped, 15, "the workers stop")
    stop_workers(started)  # whatever is still running is killed


async def sent_everything(db) -> bool:
    async with db.read() as session:
        left = await session.scalar(
            select(func.count(col(OutboxMessage.id))).where(
                col(OutboxMessage.status).in_(["pending", "sending"])
            )
        )
    return left == 0


async def test_three_workers_keep_one_budget_and_deliver_everything(world, sandbox, workers):
    people = await volunteers(world, sandbox, VOLUNTEERS)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    await wait_for(lambda: sent_everything(world.db), VOLUNTEERS / 25 + 30, "all delivered")
    limits = sandbox.world.limits
    assert limits.refused == 0, (limits.refused_chat, limits.refused_overall)
    own = sandbox.world.bot.id
    got = [
        sum(1 for m in sandbox.world.messages.get(p, {}).values() if m.from_id == own)
        for p in people
    ]
    assert got == [1] * len(people), "each volunteer once"


async def test_a_standby_takes_over_when_the_leader_is_killed(world, sandbox, workers):
    people = await volunteers(world, sandbox, 120)
    leader, backend = await leader_process(world.db, workers)
    cid = await world.campaign(targets=("commune",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)

    async def some_sent():
        return sandbox.world.sent >= 20

    await wait_for(some_sent, 30, "the leader starts sending")
    os.kill(leader, signal.SIGKILL)
    killed_at, sent_at_kill = time.monotonic(), sandbox.world.sent
    survivors = [w for w in workers if w.pid != leader]
    standby, _ = await leader_process(world.db, survivors, instead_of=backend)
    assert standby != leader
    elected_in = time.monotonic() - killed_at
    assert elected_in < 10, elected_in
    # Rows the dead leader held are reaped when their lease runs out, then resent once.
    await wait_for(lambda: sent_everything(world.db), 120, "the standby finishes")
    own = sandbox.world.bot.id
    for p in people:
        assert any(m.from_id == own for m in sandbox.world.messages.get(p, {}).values())
    assert sandbox.world.sent > sent_at_kill
    assert sandbox.world.limits.refused == 0
