"""GET /metrics: scraped over real loopback HTTP after the real bot delivered and recorded a
press through the sandbox, parsed with prometheus-client's own parser; refused to others."""

from __future__ import annotations

import asyncio
import os

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from telegram.error import BadRequest, Forbidden, RetryAfter

from coordinator import metrics, scheduler
from coordinator.app import create_app
from coordinator.campaigns import service as campaigns
from coordinator.settings import read_settings
from coordinator.supervisor import Beat, Supervisor
from tests.bots.test_bot import TOKEN, eventually, live, onboard  # noqa: F401
from tests.core.test_supervisor import web

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def settings_for(world, **extra: str):
    return read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url, **extra})


async def test_it_counts_what_the_bot_sent_and_recorded(world, live):  # noqa: F811
    async with web(settings_for(world)) as client:
        before = parse((await client.get("/metrics")).text)
        phone = await onboard(world, live, "d1")
        cid = await world.campaign(targets=("district",))
        await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
        task = await eventually(lambda: phone.bot_said("Cảnh giác lừa đảo"))
        await phone.press(task, "ack")

        async def scraped() -> Samples | None:
            answer = await client.get("/metrics")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            samples = parse(answer.text)
            sent = "coordinator_messages_sent_total"
            grew = value(samples, sent, bot="default") > value(before, sent, bot="default")
            return samples if grew else None

        after = await eventually(scraped)
        text = (await client.get("/metrics")).text
    presses = "coordinator_press_seconds_count"
    assert value(after, presses, bot="default") >= value(before, presses, bot="default") + 1
    assert value(after, "coordinator_outbox_lag_seconds", bot="default") >= 0
    for status in ("pending", "sending", "uncertain", "failed"):
        assert ("coordinator_outbox_messages", (("bot", "default"), ("status", status))) in after
    assert value(after, "coordinator_database_up") == 1
    # Nothing that names a person, a chat or a secret in any label.
    assert str(phone.id) not in text and TOKEN not in text


async def test_it_counts_refusals_by_reason_and_429s_apart():
    def refused(reason: str) -> float:
        return metrics.REFUSED.labels("default", reason)._value.get()

    before = {r: refused(r) for r in ("too_many_requests", "unreachable", "bad_request")}
    too_many = metrics.TOO_MANY.labels("default")._value.get()
    metrics.refused(RetryAfter(3))
    metrics.refused(Forbidden("Forbidden: bot was blocked by the user"), unreachable=True)
    metrics.refused(BadRequest("Bad Request: something new"))
    assert metrics.TOO_MANY.labels("default")._value.get() == too_many + 1
    assert {r: refused(r) - before[r] for r in before} == dict.fromkeys(before, 1.0)


async def test_it_times_the_sweeps_and_counts_restarts(db):
    settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db.url})
    await scheduler.tick(db, settings, scheduler.Leader(db))
    async with AsyncTestClient(app=create_app(settings)) as client:
        client.headers["authorization"] = "Bearer x"  # no token set: refused all the same
        assert (await client.get("/metrics")).status_code == 403
    text = (await metrics_text(db)).decode()
    samples = parse(text)
    for sweep in ("campaigns", "digests", "purge_updates", "tally_recount"):
        assert value(samples, "coordinator_sweep_seconds_count", sweep=sweep) >= 1
    assert value(samples, "coordinator_tally_recount_age_seconds") >= 0
    assert "coordinator_tally_drift_lines" in text

    restarts = value(samples, "coordinator_loop_restarts_total", loop="flaky")
    stop, runs = asyncio.Event(), []

    async def flaky(beat: Beat) -> None:
        runs.append(1)
        if len(runs) == 2:
            stop.set()
            return
        raise RuntimeError("first run fails")

    await Supervisor(db, first_backoff=0.01).start("flaky", flaky, stop)
    samples = parse((await metrics_text(db)).decode())
    assert value(samples, "coordinator_loop_restarts_total", loop="flaky") == restarts + 1


async def metrics_text(db) -> bytes:
    from coordinator.scrape import scrape

    return await scrape(db)


async def test_it_refuses_other_clients_unless_they_hold_the_token(db):
    env = {**os.environ, "COORDINATOR_DATABASE_URL": db.url}
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        answer = await client.get("/metrics")  # its peer is "testclient", not loopback
        assert answer.status_code == 403 and "coordinator_" not in answer.text
    env["COORDINATOR_METRICS_TOKEN"] = "s3cret-token"
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        assert (await client.get("/metrics")).status_code == 403
        wrong = {"authorization": "Bearer nope"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 403
        right = {"authorization": "Bearer s3cret-token"}
        answer = await client.get("/metrics", headers=right)
        assert answer.status_code == 200 and "coordinator_outbox_lag_seconds" in answer.text
        assert "s3cret-token" not in answer.text
