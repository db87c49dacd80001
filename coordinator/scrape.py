"""GET /metrics: Prometheus text, the processes' counters plus gauges read from the database.

- Counted where they happen (`coordinator/metrics.py`): with `PROMETHEUS_MULTIPROC_DIR` set
  for every process of a machine (an empty directory at start), any web process of that machine
  reports the sum over all of them (prometheus-client's multiprocess mode); without it, each
  process reports its own (one process under `coordinator serve`: the whole deployment).
- Read from the database at scrape time, the same whichever process answers: the outbox lag
  and its pending, sending, uncertain and dead-letter counts.

Served to loopback (the machine's own Prometheus, or the client a trusted proxy forwards, as
/health/ready's details), or to anyone presenting `COORDINATOR_METRICS_TOKEN` as a bearer token.
"""

from __future__ import annotations

import hmac
import os
import time
from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.health import _from_inside, outbox_health
from coordinator.http import DB
from coordinator.metrics import BOT

STATUSES = ("pending", "sending", "uncertain", "failed")


async def database_gauges(db: Database, now: datetime) -> list[Metric]:
    """The outbox as the database has it now: lag and counts by status."""
    outbox = await outbox_health(db, now)
    async with db.read() as session:
        counts = dict(
            (
                await session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(col(OutboxMessage.status).in_(STATUSES))
                    .group_by(col(OutboxMessage.status))
                )
            ).all()
        )
    lag = GaugeMetricFamily(
        "coordinator_outbox_lag_seconds", "Age of the oldest due outbox message.", labels=["bot"]
    )
    lag.add_metric([BOT], outbox["lag_seconds"])
    rows = GaugeMetricFamily(
        "coordinator_outbox_messages",
        "Outbox messages by status (failed: the dead letters).",
        labels=["bot", "status"],
    )
    for status in STATUSES:
        rows.add_metric([BOT, status], int(counts.get(status, 0)))
    waiting = GaugeMetricFamily(
        "coordinator_outbox_waiting_cards",
        "Task cards of launches not queued yet (the senders queue them a chunk at a time; "
        "at most: the id ranges left).",
    )
    waiting.add_metric([], outbox["waiting"])
    return [lag, rows, waiting]


def _counted() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def _recount_age(registry: CollectorRegistry) -> list[Metric]:
    """Seconds since the last tally recount, when a process this scrape sees has done one."""
    finished = registry.get_sample_value("coordinator_tally_last_recount_timestamp_seconds")
    if not finished:
        return []
    age = GaugeMetricFamily(
        "coordinator_tally_recount_age_seconds", "Seconds since the exact tally recount finished."
    )
    age.add_metric([], max(0.0, time.time() - finished))
    return [age]


class _Snapshot:
    """Metric families computed for one scrape."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics


async def scrape(db: Database) -> bytes:
    counted = _counted()
    read: list[Metric] = _recount_age(counted)
    try:
        read += await database_gauges(db, utcnow())
        up = 1.0
    except Exception:  # the counters still say something; the database's absence is a gauge
        up = 0.0
    database = GaugeMetricFamily("coordinator_database_up", "The database answered this scrape.")
    database.add_metric([], up)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot([*read, database]))
    return generate_latest(counted) + generate_latest(snapshot)


def allowed(request: Request[Any, Any, Any], token: str | None) -> bool:
    """Loopback, or the bearer token when one is set."""
    if _from_inside(request):
        return True
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(value.strip().encode(), (token or "").encode())
    )


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], db: DB) -> Response[bytes]:
    """Prometheus text; 403 to anyone else than loopback or the holder of the token."""
    if not allowed(request, request.app.state.settings.metrics_token):
        return Response(b"metrics: loopback or bearer token only\n", status_code=403)
    return Response(await scrape(db), media_type=CONTENT_TYPE_LATEST)


ROUTES = [metrics]
