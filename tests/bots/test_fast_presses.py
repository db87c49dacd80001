"""A press on our own buttons is read straight from Telegram's JSON (`press_answers.from_raw`);
anything else goes through python-telegram-bot. Both roads must end the same way."""

from __future__ import annotations

import json
import os
import re

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlmodel import col, select
from telegram import Update

from coordinator import metrics
from coordinator.app import create_app
from coordinator.bots import press_answers, presses, runtime, updates
from coordinator.bots.models import TelegramUpdate
from coordinator.bots.presses import ours
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.sandbox import people
from coordinator.sandbox.run import running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import read_settings
from tests.bots.test_bot import TOKEN, Phone, eventually, onboard
from tests.factories import BOT_USERNAME


def _presses_counted() -> float:
    return REGISTRY.get_sample_value("coordinator_press_seconds_count", {"bot": metrics.BOT}) or 0


def _settings(world):
    return read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})


async def _old_road(app, raw) -> None:
    """What the poller and the inbox did with every update before the raw reading."""
    app.bot_data["raw_updates"].keep(raw)
    await app.process_update(Update.de_json(raw, app.bot))


async def _press(sandbox, phone: Phone, task: dict, step: str) -> tuple[str, dict]:
    """The person presses; (the callback query id, the update as the bot would read it)."""
    data = f"t:{task['assignment']}:{step}"
    query = await people.press(sandbox.world, phone.id, phone.id, task["message_id"], data)
    raw = sandbox.world.updates[-1]
    assert raw["callback_query"]["id"] == query
    return query, json.loads(json.dumps(raw))  # as it comes over HTTP


def _shown(sandbox, phone: Phone, task: dict) -> tuple[str, str]:
    """The task's message as the person sees it, its own id taken out."""
    message = sandbox.world.message(phone.id, task["message_id"])
    markup = json.dumps(message.reply_markup, sort_keys=True)
    return message.text, re.sub(r"t:\d+:", "t:N:", markup)


async def test_a_press_ends_the_same_on_the_raw_road_and_the_librarys(world):
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
        async with runtime.running(
            runtime.build(world.db, _settings(world), TOKEN, sandbox.base_url)
        ):
            phones = [await onboard(world, sandbox, key) for key in ("d1", "d2")]
            cid = await world.campaign(targets=("district",))
            await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
            sent = [await eventually(lambda p=p: p.bot_said("Cảnh giác lừa đảo")) for p in phones]
        tasks = []
        async with world.db.read() as session:
            for key, message in zip(("d1", "d2"), sent, strict=True):
                assignment = await session.scalar(
                    select(Assignment.id).where(Assignment.member_id == world.member[key])
                )
                tasks.append({"assignment": assignment, "message_id": message["message_id"]})
        telegram = runtime.build(world.db, _settings(world), TOKEN, sandbox.base_url)
        async with telegram.application as app:
            await app.start()
            try:
                updates = []
                for step in ("ack", "done"):
                    answers, shown = [], []
                    for n, road in enumerate((runtime.fast_press, None)):
                        query, raw = await _press(sandbox, phones[n], tasks[n], step)
                        counted = _presses_counted()
                        fast = runtime.fast_press(app, raw)
                        assert fast is not None  # both could take the raw road
                        if road is None:
                            fast.close()
                            await _old_road(app, raw)
                        else:
                            await fast
                        assert _presses_counted() == counted + 1  # the same metric
                        answers.append(sandbox.world.callback_answers[query])
                        shown.append(_shown(sandbox, phones[n], tasks[n]))
                        updates.append(raw)
                    assert answers[0] == answers[1], step
                    assert answers[0]["text"].startswith("Đã ghi nhận"), answers[0]
                    assert shown[0] == shown[1], step
                # The same update again, on either road: nothing new, nothing answered twice.
                again = runtime.fast_press(app, updates[-2])
                assert again is not None
                await again
                await _old_road(app, updates[-1])
            finally:
                await app.stop()
    async with world.db.read() as session:
        reports = [
            [
                (r.action, r.content_item_id, r.proof_url)
                for r in await session.scalars(
                    select(Report)
                    .where(Report.assignment_id == t["assignment"])
                    .order_by(Report.id)
                )
            ]
            for t in tasks
        ]
        rows = {
            u.update_id: u
            for u in await session.scalars(
                select(TelegramUpdate).where(
                    col(TelegramUpdate.update_id).in_([u["update_id"] for u in updates])
                )
            )
        }
    assert reports[0] == reports[1] == [("acknowledged", None, None), ("done", None, None)]
    for raw in updates:
        row = rows[raw["update_id"]]
        assert row.bot_id == DEFAULT_BOT and row.payload == raw and row.status == "processed"


MALFORMED = [
    {"data": 5},
    {"data": None},
    {"data": ["t:1:ack"]},
    {"data": "t:99999999999999999999:ack"},
    {"data": "t:0:ack"},
    {"data": "t:1:nope"},
    {"data": "x:1:ack"},
    {"data": "o:1:p:nowhere"},
    {"from": {"id": 2**70, "is_bot": False, "first_name": "A"}},
    {"from": {"id": True, "is_bot": False, "first_name": "A"}},
    {"message": {"message_id": "1", "date": 0, "chat": {"id": 1, "type": "private"}}},
    {"message": 7},
    {"id": 12},
]


async def test_malformed_presses_fall_back_and_the_poller_goes_on(world):
    async with (
        running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox,
        runtime.running(runtime.build(world.db, _settings(world), TOKEN, sandbox.base_url)),
    ):
        phone = await onboard(world, sandbox, "d1")
        pushed = []
        for change in MALFORMED:
            query = {
                "id": "q1",
                "from": {"id": phone.id, "is_bot": False, "first_name": "A"},
                "chat_instance": "1",
                "data": "t:1:ack",
                **change,
            }
            pushed.append(await sandbox.world.push_update("callback_query", query))
        await phone.say("/help")
        await eventually(lambda: phone.bot_said("/tasks"))

        async def settled():
            async with world.db.read() as session:
                rows = await session.scalars(
                    select(TelegramUpdate).where(
                        col(TelegramUpdate.update_id).in_([u["update_id"] for u in pushed])
                    )
                )
                return {r.update_id: r.status for r in rows}

        # Each was handled or kept as failed by the library's road, as before; none stuck.
        statuses = await eventually(settled)
        assert set(statuses.values()) <= {"processed", "failed"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
callback_data = st.one_of(
    json_values,
    st.from_regex(r"[to]:[0-9]{0,25}:[a-z:]{0,12}", fullmatch=True),
    st.sampled_from(["t:1:ack", "t:2147483647:done", "o:3:rcv", "o:4:p:group", "o:5:no:busy"]),
)


@given(
    data=callback_data,
    user_id=st.one_of(st.integers(), json_values),
    message=st.one_of(st.none(), json_values, st.just({"message_id": 3, "date": 1})),
    update_id=st.one_of(st.integers(), json_values),
)
def test_the_raw_reading_takes_only_our_well_formed_presses(data, user_id, message, update_id):
    query = {
        "id": "q",
        "from": {"id": user_id, "is_bot": False, "first_name": "A"},
        "chat_instance": "1",
        "data": data,
    }
    if message is not None:
        query["message"] = message
    pressed = press_answers.from_raw({"update_id": update_id, "callback_query": query}, 1)
    if pressed is None:
        return
    press = pressed.press
    assert type(data) is str and ours(data) and press.data == data
    assert type(user_id) is int and 0 < user_id < 2**63 and press.telegram_user_id == user_id
    assert press.update_id == update_id and 0 < update_id < 2**63 and press.bot == 1
    assert type(press.chat_id) in (int, type(None))


async def test_malformed_presses_through_the_webhook_get_no_500_and_the_inbox_goes_on(world):
    settings = read_settings(
        {
            **os.environ,
            "COORDINATOR_DATABASE_URL": world.db.url,
            "COORDINATOR_WEBHOOK_SECRET": "s3cret",
        }
    )
    from litestar.testing import AsyncTestClient

    right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    async with AsyncTestClient(app=create_app(settings)) as client:
        for n, change in enumerate(MALFORMED, start=500):
            query = {"id": "q", "chat_instance": "1", "data": "t:1:ack", **change}
            query.setdefault("from", {"id": 5, "is_bot": False, "first_name": "A"})
            body = {"update_id": n, "callback_query": query}
            answer = await client.post("/telegram/webhook", json=body, headers=right)
            assert answer.status_code == 200, change
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
        telegram = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
        async with telegram.application as app:
            await app.start()
            try:
                for payload in await updates.unprocessed(world.db):
                    await runtime._handle_stored(app, payload)  # the inbox's step: never raises
            finally:
                await app.stop()
    async with world.db.read() as session:
        statuses = [u.status for u in await session.scalars(select(TelegramUpdate))]
    assert len(statuses) == len(MALFORMED) and set(statuses) <= {"processed", "failed"}


async def test_the_webhook_inbox_records_waiting_presses_in_one_batch(world, monkeypatch):
    """The inbox hands the presses it finds to the press queue all at once, as the poller
    does: one commit for all of them (one at a time, each was a commit of its own), and each
    still answered, shown and kept as handled."""
    keys = ("d1", "d2", "d3")
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
        async with runtime.running(
            runtime.build(world.db, _settings(world), TOKEN, sandbox.base_url)
        ):
            phones = [await onboard(world, sandbox, key) for key in keys]
            cid = await world.campaign(targets=("district",))
            await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
            sent = [await eventually(lambda p=p: p.bot_said("Cảnh giác lừa đảo")) for p in phones]
        tasks = []
        async with world.db.read() as session:
            for key, message in zip(keys, sent, strict=True):
                assignment = await session.scalar(
                    select(Assignment.id).where(Assignment.member_id == world.member[key])
                )
                tasks.append({"assignment": assignment, "message_id": message["message_id"]})
        queries = []
        for phone, task in zip(phones, tasks, strict=True):  # as the webhook route keeps them
            query, raw = await _press(sandbox, phone, task, "ack")
            assert await updates.store(world.db, raw)
            queries.append(query)
        batches: list[int] = []
        record = presses.record_presses

        async def counted(db, batch, *args, **kwargs):
            batches.append(len(batch))
            return await record(db, batch, *args, **kwargs)

        monkeypatch.setattr(presses, "record_presses", counted)
        telegram = runtime.build(world.db, _settings(world), TOKEN, sandbox.base_url)
        async with telegram.application as app:
            await app.start()
            try:
                await runtime._handle_pending(app, await updates.unprocessed(world.db))
            finally:
                await app.stop()
        assert batches == [len(keys)]
        for query, phone, task in zip(queries, phones, tasks, strict=True):
            assert sandbox.world.callback_answers[query]["text"].startswith("Đã ghi nhận")
            assert "Đã nhận" in _shown(sandbox, phone, task)[0]
    assert await updates.unprocessed(world.db) == []
    async with world.db.read() as session:
        statuses = [u.status for u in await session.scalars(select(TelegramUpdate))]
        acknowledged = await session.scalars(
            select(Assignment.status).where(
                col(Assignment.id).in_([t["assignment"] for t in tasks])
            )
        )
        assert set(acknowledged) == {"acknowledged"}
    assert "received" not in statuses
