"""python-telegram-bot talks to the sandbox over HTTP on loopback, as it would to Telegram."""

import asyncio
import logging
import time

import httpx
import pytest
import uvicorn
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

from coordinator.sandbox.run import free_port, running_sandbox
from coordinator.sandbox.state import World
from tests.factories import BOT_USERNAME

TOKEN = "1000:sandbox"


async def _poll(predicate, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
async def sandbox():
    async with running_sandbox(World(TOKEN, username=BOT_USERNAME)) as running:
        yield running


@pytest.fixture
async def bot(sandbox):
    async with Bot(TOKEN, base_url=sandbox.base_url) as bot:
        yield bot


async def _user(sandbox, name="An", lang="vi") -> dict:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        r = await client.post("/sandbox/users", json={"first_name": name, "language_code": lang})
        return r.json()["result"]


async def _side(sandbox, method, path, **json):
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        r = await client.request(method, path, json=json or None)
        assert r.status_code == 200, r.text
        return r.json()["result"]


async def test_it_serves_python_telegram_bot_end_to_end(sandbox, bot):
    me = await bot.get_me()
    assert me.username == BOT_USERNAME and me.is_bot
    user = await _user(sandbox)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Xong", callback_data="done:7")]])
    sent = await bot.send_message(
        user["id"], "<b>Nhiệm vụ</b>", parse_mode="HTML", reply_markup=keyboard
    )
    press = await _side(
        sandbox,
        "POST",
        "/sandbox/presses",
        user_id=user["id"],
        chat_id=user["id"],
        message_id=sent.message_id,
        data="done:7",
    )
    updates = await bot.get_updates(timeout=2)
    query = updates[-1].callback_query
    assert query.data == "done:7" and query.from_user.id == user["id"] and query.chat_instance
    await query.answer("Đã ghi nhận")
    await bot.edit_message_text(
        "<b>Nhiệm vụ</b> ✅", chat_id=user["id"], message_id=sent.message_id, parse_mode="HTML"
    )
    answer = await _side(sandbox, "GET", f"/sandbox/callback-answers/{press['callback_query_id']}")
    assert answer == {"text": "Đã ghi nhận", "show_alert": False, "user_id": user["id"]}
    history = await _side(sandbox, "GET", f"/sandbox/chats/{user['id']}/messages")
    assert history[0]["text"] == "<b>Nhiệm vụ</b> ✅"
    assert history[0]["earlier_versions"] == ["<b>Nhiệm vụ</b>"]


async def test_it_raises_telegrams_errors_in_python_telegram_bot(sandbox, bot):
    user = await _user(sandbox)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(123, "x")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(user["id"], "<b>x", parse_mode="HTML")
    await _side(sandbox, "POST", f"/sandbox/users/{user['id']}/block")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user["id"], "x")
    await _side(sandbox, "PUT", "/sandbox/limits", enabled=True)
    other = await _user(sandbox, "Bình")
    with pytest.raises(RetryAfter) as error:
        for _ in range(5):
            await bot.send_message(other["id"], "x")
    assert error.value.retry_after.total_seconds() >= 1
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=sandbox.base_url):
            pass


async def test_it_delivers_webhooks_with_the_secret_and_retries_failures(sandbox, bot):
    received: list[tuple[str | None, dict]] = []
    failures = {"left": 2}

    async def receiver(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = dict(scope["headers"])
        status = 200
        if failures["left"]:
            failures["left"] -= 1
            status = 500
        else:
            import json

            secret = headers.get(b"x-telegram-bot-api-secret-token", b"").decode() or None
            received.append((secret, json.loads(body)))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="error")
    )
    task = asyncio.create_task(server.serve())
    try:
        await _poll(lambda: asyncio.sleep(0, server.started))
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret-token")
        user = await _user(sandbox)
        for text in ("/start", "/help"):
            await _side(sandbox, "POST", "/sandbox/messages", user_id=user["id"], text=text)
        await _poll(lambda: asyncio.sleep(0, len(received) == 2))
        assert [r[0] for r in received] == ["s3cret-token", "s3cret-token"]
        assert [r[1]["message"]["text"] for r in received] == ["/start", "/help"]
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0 and "500" in info.last_error_message
    finally:
        server.should_exit = True
        await task


async def test_the_bot_token_never_reaches_the_logs(sandbox, caplog):
    """httpx logs request URLs at INFO, and Bot API URLs hold the token."""
    from coordinator.bots.telegram_client import make_bot
    from coordinator.logs import quiet_libraries

    quiet_libraries()
    caplog.set_level(logging.DEBUG, logger="coordinator")
    caplog.set_level(logging.INFO)
    bot = make_bot(TOKEN, sandbox.base_url)
    async with bot:
        await bot.get_me()
    assert TOKEN not in caplog.text
