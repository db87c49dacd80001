"""Liveness (`/health`: the process answers, the database too) and readiness (`/health/ready`:
the loops tick, the outbox keeps up), for any process, whichever process runs the loops.

Readiness reads the heartbeats every process writes (`coordinator/supervisor.py`):
- a process that stopped writing for `ready_stale_seconds` is gone and not counted;
- a loop of a live process is failing when its last error is newer than its last good tick,
  and stale when its last good tick is older than `ready_stale_seconds`;
- each loop the deployment needs (sender, scheduler, and the poller or the webhook inbox) must
  run somewhere; and the oldest due outbox message must be younger than `ready_lag_seconds`.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.response import Response
from sqlalchemy import false, func, text, update
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.bots.identity import bot_status
from coordinator.db import BUSY_TIMEOUT_MS, Database
from coordinator.delivery import backlog
from coordinator.delivery.models import OutboxMessage
from coordinator.http import DB
from coordinator.settings import Settings
from coordinator.supervisor import LoopHeartbeat, describe, heartbeats


def required_loops(settings: Settings) -> tuple[str, ...]:
    """The loops some process must run: each bot's sender and update reader (the default
    bot's under their plain names, another bot's as `sender-<name>`), and the scheduler."""
    updates = "inbox" if settings.telegram_mode == "webhook" else "poller"
    lanes = [f"{loop}-{bot.name}" for bot in settings.telegram_bots for loop in ("sender", updates)]
    return ("sender", updates, *lanes, "scheduler")


def loop_state(row: LoopHeartbeat, now: datetime, stale: timedelta) -> str:
    """gone, failing, stale, starting or ok."""
    if row.updated_at < now - stale:
        return "gone"
    if row.last_error_at is not None and (
        row.last_ok_at is None or row.last_error_at > row.last_ok_at
    ):
        return "failing"
    if row.last_ok_at is None:
        return "stale" if row.started_at < now - stale else "starting"
    return "stale" if row.last_ok_at < now - stale else "ok"


async def outbox_health(db: Database, now: datetime) -> dict[str, Any]:
    async with db.read() as session:
        oldest_due = await session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == "pending", col(OutboxMessage.next_attempt_at) <= now
            )
        )
        counts = dict(
            (
                await session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(col(OutboxMessage.status).in_(("uncertain", "failed")))
                    .group_by(col(OutboxMessage.status))
                )
            ).all()
        )
        waiting, launched = await backlog.waiting(session)
    # Cards a launch left to the senders wait too, since the launch (`delivery.backlog`).
    oldest_due = min((t for t in (oldest_due, launched) if t is not None), default=None)
    lag = (now - oldest_due).total_seconds() if oldest_due is not None else 0.0
    return {
        "lag_seconds": round(max(lag, 0.0), 1),
        "waiting": waiting,
        "uncertain": int(counts.get("uncertain", 0)),
        "dead_letter": int(counts.get("failed", 0)),
    }


PROBE_WAIT_MS = 800


async def writes_refused(db: Database) -> str | None:
    """Whether this process may write now: an UPDATE that matches no row still needs the
    privilege (PostgreSQL) and the write lock (SQLite). The loops' heartbeats cannot say it,
    since they are writes themselves; None when writes go through, else why not."""
    probe = update(LoopHeartbeat).where(false()).values(restarts=0)
    sqlite = db.dialect == "sqlite"
    try:
        async with db.engine.connect() as connection:
            if sqlite:  # answer within a second, not after the writers' 10 s busy timeout
                await connection.exec_driver_sql(f"PRAGMA busy_timeout={PROBE_WAIT_MS}")
            try:
                await connection.execute(probe)
            finally:
                await connection.rollback()
                if sqlite:
                    await connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except Exception as exc:
        return describe(exc)
    return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def readiness(db: Database, settings: Settings) -> tuple[bool, dict[str, Any]]:
    now = utcnow()
    stale = timedelta(seconds=settings.ready_stale_seconds)
    loops, problems, running = [], [], set()
    for row in await heartbeats(db):
        state = loop_state(row, now, stale)
        if state in ("ok", "starting"):
            running.add(row.loop)
        elif state != "gone":
            problems.append(f"{row.loop} on {row.process} is {state}")
        loops.append(
            {
                "loop": row.loop,
                "process": row.process,
                "state": state,
                "last_ok_at": _iso(row.last_ok_at),
                "last_error": row.last_error,
                "last_error_at": _iso(row.last_error_at),
                "restarts": row.restarts,
            }
        )
    problems += [
        f"no {name} loop is running" for name in required_loops(settings) if name not in running
    ]
    refused = await writes_refused(db)
    if refused:
        problems.append(f"the database refuses writes: {refused}")
    outbox = await outbox_health(db, now)
    if outbox["lag_seconds"] > settings.ready_lag_seconds:
        problems.append(f"the outbox lags {outbox['lag_seconds']:g} s")
    report = {
        "status": "not ready" if problems else "ready",
        "problems": problems,
        "loops": loops,
        "outbox": outbox,
        "bot": await bot_status(db),
    }
    return not problems, report


@get("/health", include_in_schema=False)
async def health(db: DB) -> Response[dict[str, Any]]:
    """Liveness: the process answers and reaches its database."""
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        body = {"status": "database unreachable", "error": type(exc).__name__}
        return Response(body, status_code=503)
    return Response({"status": "ok", "database": db.dialect})


@get("/health/ready", include_in_schema=False)
async def ready(request: Request[Any, Any, Any], db: DB) -> Response[dict[str, Any]]:
    """Readiness: every loop the deployment needs ticks and the outbox keeps up; else 503."""
    try:
        ok, report = await readiness(db, request.app.state.settings)
    except Exception as exc:
        body = {"status": "not ready", "problems": [f"database unreachable: {type(exc).__name__}"]}
        return Response(body, status_code=503)
    if not _from_inside(request):  # the public sees the verdict, not hosts, pids or errors
        report = {"status": report["status"], "problems": len(report["problems"])}
    return Response(report, status_code=200 if ok else 503)


def _from_inside(request: Request[Any, Any, Any]) -> bool:
    """Loopback (the machine's own monitoring, or a proxy in front on the same machine that
    does not forward this path) gets the details."""
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ROUTES = [health, ready]
