"""Supervised loops: a failing loop is logged and restarted, and readiness (over real HTTP, read
from the heartbeats in the database) goes red while a loop fails and green once it ticks again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import uvicorn
from sqlalchemy import event, insert
from sqlalchemy.exc import OperationalError

from coordinator import scheduler
from coordinator.app import create_app
from coordinator.base import utcnow
from coordinator.bots import runtime
from coordinator.campaigns import service as campaigns
from coordinator.delivery.models import OutboxMessage
from coordinator.sandbox.run import free_port, running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import read_settings
from coordinator.supervisor import Beat, Supervisor, heartbeats, recording
from tests.bots.test_bot import TOKEN, eventually
from tests.delivery.test_delivery import bot_messages, link_members
from tests.factories import BOT_USERNAME


def _settings(world, **extra: str):
    return read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url, **extra})


@contextlib.asynccontextmanager
async def web(settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app served on a loopback port, and a client for it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def test_it_restarts_a_loop_that_raises_and_logs_the_traceback(db, caplog):
    supervisor = Supervisor(db, first_backoff=0.01, max_backoff=0.05)
    stop = asyncio.Event()
    calls = []

    async def flaky(beat: Beat) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE outbox_message", {}, Exception("refused"))
        beat.ok()
        await stop.wait()

    with caplog.at_level(logging.ERROR, "coordinator.supervisor"):
        task = supervisor.start("sender", flaky, stop)
        await eventually(lambda: asyncio.sleep(0, supervisor.beats["sender"].last_ok_at))
    beat = supervisor.beats["sender"]
    assert len(calls) == 3 and beat.restarts == 2
    assert beat.last_error.startswith("OperationalError") and beat.last_ok_at > beat.last_error_at
    failures = [r for r in caplog.records if "sender failed; restarting" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures), "with the traceback"
    assert "refused" in caplog.text and "Traceback" in caplog.text
    await supervisor.flush()
    [row] = await heartbeats(db)
    assert (row.loop, row.restarts, row.process) == ("sender", 2, supervisor.process)
    assert row.last_ok_at == beat.last_ok_at
    stop.set()
    await task
    await supervisor.forget()
    assert await heartbeats(db) == []


async def test_a_loop_that_returns_before_its_stop_is_restarted(db):
    supervisor = Supervisor(db, first_backoff=0.01)
    stop = asyncio.Event()
    runs = []

    async def quits(beat: Beat) -> None:
        runs.append(1)
        if len(runs) == 3:
            stop.set()

    await supervisor.start("scheduler", quits, stop)
    assert len(runs) == 3
    assert "returned while it should run" in supervisor.beats["scheduler"].last_error


def refuse_outbox_updates(db) -> dict[str, bool]:
    """The database refuses UPDATE on outbox_message while `switch["on"]` (as a revoked
    grant would): raised where the driver would raise it, below all of our code."""
    switch = {"on": False}

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def refuse(conn, cursor, statement, parameters, context, executemany):
        if switch["on"] and statement.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGE"):
            raise OperationalError(statement, parameters, Exception("permission denied"))

    return switch


async def test_the_sender_survives_a_database_error_and_readiness_shows_it(world):
    settings = _settings(world, COORDINATOR_READY_STALE_SECONDS="30")
    refusing = refuse_outbox_updates(world.db)
    supervisor = Supervisor(world.db, first_backoff=0.1, max_backoff=0.5)
    async with (
        running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox,
        web(settings) as client,
        recording(world.db, supervisor, every=0.2),
    ):
        ids = await link_members(world, sandbox)
        telegram = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
        async with (
            runtime.running(telegram, supervisor=supervisor),
            scheduler.running(world.db, settings, supervisor),
        ):

            async def ready_is(code: int):
                r = await client.get("/health/ready")
                return r.json() if r.status_code == code else None

            report = await eventually(lambda: ready_is(200))
            assert {loop["loop"] for loop in report["loops"]} == {"sender", "poller", "scheduler"}
            assert report["bot"]["username"] == BOT_USERNAME
            refusing["on"] = True
            cid = await world.campaign(targets=("district",))
            await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
            red = await eventually(lambda: ready_is(503))
            assert any(p.startswith("sender on ") and "failing" in p for p in red["problems"])
            [sender] = [loop for loop in red["loops"] if loop["loop"] == "sender"]
            assert sender["last_error"] == "OperationalError: permission denied", "no SQL shown"
            assert all(bot_messages(sandbox, ids[k]) == [] for k in ("d1", "d2", "d3"))
            refusing["on"] = False
            green = await eventually(lambda: ready_is(200), seconds=15)
            assert green["outbox"]["uncertain"] == 0
            [sender] = [loop for loop in green["loops"] if loop["loop"] == "sender"]
            assert sender["restarts"] >= 1 and sender["state"] == "ok"

            async def delivered():
                return all(len(bot_messages(sandbox, ids[k])) == 1 for k in ("d1", "d2", "d3"))

            await eventually(delivered, seconds=15)


async def test_readiness_reports_outbox_lag_and_the_uncertain_and_dead_letter_rows(world):
    settings = _settings(world, COORDINATOR_READY_LAG_SECONDS="120")
    now = utcnow()
    rows = [
        ("late", "pending", now - timedelta(minutes=10)),
        ("later", "pending", now + timedelta(hours=1)),
        ("u", "uncertain", now - timedelta(hours=1)),
        ("f1", "failed", now - timedelta(hours=1)),
        ("f2", "failed", now - timedelta(hours=1)),
    ]
    async with world.db.write() as session:
        await session.execute(
            insert(OutboxMessage),
            [
                {
                    "dedupe_key": key,
                    "chat_id": n + 1,
                    "kind": "text",
                    "payload": {"text": "x"},
                    "status": status,
                    "attempts": 0,
                    "next_attempt_at": due,
                    "created_at": now,
                }
                for n, (key, status, due) in enumerate(rows)
            ],
        )
    async with web(settings) as client:
        r = await client.get("/health/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["outbox"]["uncertain"] == 1 and body["outbox"]["dead_letter"] == 2
        assert 590 < body["outbox"]["lag_seconds"] < 700, "the oldest due row, not the later one"
        assert any(p.startswith("the outbox lags") for p in body["problems"])
        assert "no sender loop is running" in body["problems"]
        live = await client.get("/health")
        assert live.status_code == 200 and live.json()["status"] == "ok"


async def test_readiness_tells_the_public_only_its_verdict(db):
    """Hosts, process ids and error texts are for the machine's own monitoring (loopback)."""
    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.settings import read_settings

    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url}))
    async with AsyncTestClient(app=app) as client:  # its peer is "testclient", not loopback
        answer = await client.get("/health/ready")
    assert answer.status_code == 503  # nothing runs here
    assert answer.json() == {"status": "not ready", "problems": answer.json()["problems"]}
    assert isinstance(answer.json()["problems"], int)
