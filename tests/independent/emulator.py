"""telegram-test-api as the tests use it: the Node process, and people acting through its
client side (send a message or a command, press an inline button, read a chat)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from coordinator.sandbox.run import free_port
from tests.independent.shim import Shim

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "telegram-test-api" / "package.json"
T = TypeVar("T")


def _unavailable(reason: str) -> None:
    """Missing in CI is a failure; on a developer's machine the suite may go without it."""
    message = f"{reason}; install it with `make independent` (Node.js, npm ci)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def start_emulator(log: Path, seconds: float = 20.0) -> tuple[subprocess.Popen[bytes], str]:
    """`node server.js PORT`, waited for until it answers; its output goes to `log`."""
    node = shutil.which("node")
    if node is None:
        _unavailable("`node` is not on PATH, so the independent Bot API emulator cannot run")
    if not PACKAGE.exists():
        _unavailable(f"telegram-test-api is not installed under {PACKAGE.parent.parent}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(node), str(HERE / "server.js"), str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"telegram-test-api exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/bot0:probe/getMe", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"telegram-test-api did not answer in {seconds:g} s: {log.read_text()}")


async def eventually(check: Callable[[], Awaitable[T | None]], seconds: float = 15.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {seconds:g} s")
        await asyncio.sleep(0.05)


@dataclass
class Telegram:
    """One test's Telegram: a bot token of its own on the shared emulator, behind a shim."""

    emulator_url: str
    token: str
    shim: Shim
    http: httpx.AsyncClient
    bot: dict[str, Any]  # the bot's user, as getMe describes it

    def person(self, user_id: int, first_name: str, language: str = "vi") -> Person:
        return Person(
            self,
            {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language},
        )

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """What the bot sent to a chat, oldest first, as it reads now (edits applied)."""
        r = await self.http.post("/getUpdatesHistory", json={"token": self.token})
        r.raise_for_status()
        found = []
        for entry in r.json()["result"]:
            sent = entry.get("message") or {}
            if "chat_id" in sent and str(sent["chat_id"]) == str(chat_id):
                found.append(
                    {
                        "message_id": entry["messageId"],
                        "chat_id": chat_id,
                        "text": sent.get("text", ""),
                        "reply_markup": sent.get("reply_markup"),
                    }
                )
        return found

    async def last_said(self, chat_id: int, fragment: str) -> dict[str, Any] | None:
        for message in reversed(await self.messages(chat_id)):
            if fragment in message["text"]:
                return message
        return None


@dataclass
class Person:
    telegram: Telegram
    user: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.user["id"])

    async def say(self, text: str, chat: dict[str, Any] | None = None) -> None:
        """A message (a command when it starts with /) in a private chat, or in `chat`."""
        message: dict[str, Any] = {
            "botToken": self.telegram.token,
            "from": self.user,
            "chat": chat
            or {"id": self.id, "type": "private", "first_name": self.user["first_name"]},
            "date": int(time.time()),
            "text": text,
        }
        route = "/sendMessage"
        if text.startswith("/"):
            command = text.split(" ", 1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            route = "/sendCommand"
        (await self.telegram.http.post(route, json=message)).raise_for_status()

    async def press(self, card: dict[str, Any], step: str) -> dict[str, Any]:
        """Press the card's button for `step` (ack, done, no); returns the bot's answer."""
        rows = (card["reply_markup"] or {}).get("inline_keyboard", [])
        data = next(
            b["callback_data"]
            for row in rows
            for b in row
            if b["callback_data"].endswith(f":{step}")
        )
        chat_id = int(card["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
        shim = self.telegram.shim
        before = set(shim.answers)
        query = {
            "botToken": self.telegram.token,
            "from": self.user,
            "message": {
                "message_id": card["message_id"],
                "date": int(time.time()),
                "chat": chat,
                "from": self.telegram.bot,
                "text": card["text"],
            },
            "data": data,
        }
        (await self.telegram.http.post("/sendCallback", json=query)).raise_for_status()

        async def answered() -> dict[str, Any] | None:
            for query_id, (user_id, pressed) in list(shim.callbacks.items()):
                fresh = query_id not in before and query_id in shim.answers
                if fresh and (user_id, pressed) == (self.id, data):
                    return shim.answers[query_id]
            return None

        return await eventually(answered)
