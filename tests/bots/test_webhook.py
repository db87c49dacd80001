"""Webhook mode: Telegram (the sandbox) posts updates to our route; each is handled once."""

from __future__ import annotations

import asyncio
import os

import httpx
import uvicorn
from sqlmodel import select

from coordinator.app import create_app
from coordinator.bots import runtime
from coordinator.bots.models import TelegramUpdate
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.sandbox.run import free_port, running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import read_settings
from tests.bots.test_bot import TOKEN, Phone, eventually
from tests.factories import BOT_USERNAME

SECRET = "webhook-secret-for-tests"


async def test_it_takes_updates_only_with_the_right_secret(world):
    settings = read_settings(
        {
            **os.environ,
            "COORDINATOR_DATABASE_URL": world.db.url,
            "COORDINATOR_WEBHOOK_SECRET": SECRET,
        }
    )
    from litestar.testing import AsyncTestClient

    update = {
        "update_id": 77,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": "/help",
            "chat": {"id": 5, "type": "private"},
        },
    }
    async with AsyncTestClient(app=create_app(settings)) as client:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            r = await client.post("/telegram/webhook", json=update, headers=headers)
            assert r.status_code == 401
        right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for bad in ({"x": 1}, {"update_id": True}, {"update_id": 2**64}, {"update_id": -5}):
            answer = await client.post("/telegram/webhook", json=bad, headers=right)
            assert answer.status_code == 400, bad
        for _ in range(2):
            assert (
                await client.post("/telegram/webhook", json=update, headers=right)
            ).status_code == 200
    async with world.db.read() as session:
        assert [u.update_id for u in (await session.scalars(select(TelegramUpdate))).all()] == [77]


async def test_it_runs_the_bot_from_the_webhook_and_ignores_a_repeat(world):
    port = free_port()
    settings = read_settings(
        {
            **os.environ,
            "COORDINATOR_DATABASE_URL": world.db.url,
            "COORDINATOR_TELEGRAM_MODE": "webhook",
            "COORDINATOR_WEBHOOK_SECRET": SECRET,
            "COORDINATOR_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    web = asyncio.create_task(server.serve())
    try:
        async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
            telegram = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
            async with runtime.running(telegram, webhook=(settings.webhook_url, SECRET)):
                phone = Phone(sandbox, sandbox.world.add_person("An", None, "vi").id)
                sent = await phone.say("/help")
                await eventually(lambda: phone.bot_said("/tasks"))
                # Telegram delivers the same update again (it does, after a timeout): no effect.
                async with world.db.read() as session:
                    stored = (await session.scalars(select(TelegramUpdate))).all()
                [first] = stored
                assert first.payload["message"]["message_id"] == sent["message_id"]
                async with httpx.AsyncClient() as client:
                    r = await client.post(
                        settings.webhook_url,
                        json=first.payload,
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    )
                assert r.status_code == 200
                async with world.db.read() as session:
                    again = (await session.scalars(select(TelegramUpdate))).all()
                assert [u.update_id for u in again] == [first.update_id]
                assert again[0].processed_at is not None
                replies = [m for m in await phone.chat() if m["from"]["is_bot"]]
                assert len(replies) == 1
                info = await telegram.application.bot.get_webhook_info()
                assert info.url == settings.webhook_url and info.pending_update_count == 0
    finally:
        server.should_exit = True
        await web


async def test_a_malformed_update_is_kept_as_failed_and_later_updates_go_on(world):
    port = free_port()
    settings = read_settings(
        {
            **os.environ,
            "COORDINATOR_DATABASE_URL": world.db.url,
            "COORDINATOR_TELEGRAM_MODE": "webhook",
            "COORDINATOR_WEBHOOK_SECRET": SECRET,
            "COORDINATOR_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    web = asyncio.create_task(server.serve())
    right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as sandbox:
            telegram = runtime.build(world.db, settings, TOKEN, sandbox.base_url)
            async with (
                runtime.running(telegram, webhook=(settings.webhook_url, SECRET)),
                httpx.AsyncClient() as client,
            ):
                not_json = await client.post(
                    settings.webhook_url,
                    content=b"{not json",
                    headers={**right, "Content-Type": "application/json"},
                )
                assert not_json.status_code == 400
                bad = {"update_id": 900000000, "callback_query": 5}
                r = await client.post(settings.webhook_url, json=bad, headers=right)
                assert r.status_code == 200

                async def failed():
                    async with world.db.read() as session:
                        row = await session.get(TelegramUpdate, (DEFAULT_BOT, 900000000))
                    return row if row is not None and row.status == "failed" else None

                row = await eventually(failed)
                assert row.error and row.error.split(":")[0] in ("TypeError", "AttributeError")
                assert TOKEN not in row.error
                phone = Phone(sandbox, sandbox.world.add_person("An", None, "vi").id)
                await phone.say("/help")
                await eventually(lambda: phone.bot_said("/tasks"))
        async with world.db.read() as session:
            stored = {u.update_id: u.status for u in await session.scalars(select(TelegramUpdate))}
        assert stored[900000000] == "failed"
        assert sorted(stored.values()) == ["failed", "processed"], "nothing from the bad body"
    finally:
        server.should_exit = True
        await web
