"""A thin HTTP layer between our bot and telegram-test-api: each shim answers only what real
Telegram would answer where the emulator falls short, faults are injected on request, and
every Bot API call the bot makes is recorded. Each shim is listed, with why, in the docstring
of tests/independent/test_journeys.py; nothing here knows our bot's internals."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from coordinator.sandbox.run import free_port

Answer = tuple[int, dict[str, Any]]
POLL_EVERY = 0.05  # seconds between looks at the emulator while a getUpdates is held
LONGEST_POLL = 30.0


@dataclass
class Call:
    """One Bot API request as the bot made it, and the HTTP status it got."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    status: int = 0


def _refusal(code: int, description: str, **parameters: Any) -> Answer:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


def _chat(chat_id: Any) -> dict[str, Any]:
    number = int(chat_id)
    return {"id": number, "type": "private" if number > 0 else "group"}


@dataclass
class Shim:
    emulator_url: str
    calls: list[Call] = field(default_factory=list)
    too_many: int = 0  # answer 429 to this many of the next sendMessage calls
    retry_after: int = 2
    blocked: set[int] = field(default_factory=set)  # chats whose user blocked the bot
    callbacks: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (user, data)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # callback id -> answer
    delivered: list[int] = field(default_factory=list)  # update ids handed to the bot
    url: str = ""
    _http: aiohttp.ClientSession | None = None
    _runner: web.AppRunner | None = None
    _closing: bool = False

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._http = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._closing = True
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    def made(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if request.content_type == "application/json":  # Telegram reads it as the same form
            params = {
                key: value if isinstance(value, str) else json.dumps(value)
                for key, value in dict(await request.json()).items()
            }
        else:
            params = dict(await request.post())
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        shims: dict[str, Callable[[str, str, dict[str, Any]], Awaitable[Answer]]] = {
            "getMe": self._get_me,
            "setMyCommands": self._set_my_commands,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit,
            "editMessageReplyMarkup": self._edit,
            "answerCallbackQuery": self._answer_callback_query,
        }
        status, body = await shims.get(method, self._forward)(token, method, params)
        call.status = status
        return web.json_response(body, status=status)

    async def _forward(self, token: str, method: str, params: dict[str, Any]) -> Answer:
        assert self._http is not None
        url = f"{self.emulator_url}/bot{token}/{method}"
        async with self._http.post(url, data=params) as response:
            return response.status, await response.json(content_type=None)

    async def _get_me(self, token: str, method: str, params: dict[str, Any]) -> Answer:
        status, body = await self._forward(token, method, params)
        if body.get("ok"):
            body["result"].setdefault("is_bot", True)
        return status, body

    async def _set_my_commands(self, token: str, method: str, params: dict[str, Any]) -> Answer:
        try:
            commands = json.loads(params.get("commands") or "null")
        except ValueError:
            commands = None
        if not isinstance(commands, list):
            return _refusal(400, "Bad Request: can't parse commands JSON object")
        return 200, {"ok": True, "result": True}

    async def _get_updates(self, token: str, method: str, params: dict[str, Any]) -> Answer:
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), LONGEST_POLL)
        while True:
            status, body = await self._forward(token, method, {})
            if status != 200 or body.get("result") or self._closing:
                break
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_EVERY)
        for update in body.get("result") or []:
            self._as_telegram_sends(update)
        return status, body

    def _as_telegram_sends(self, update: dict[str, Any]) -> None:
        self.delivered.append(int(update["update_id"]))
        if "message" in update:
            update["message"].pop("botToken", None)
        query = update.get("callback_query")
        if query is not None:
            chat = (query.get("message") or {}).get("chat") or {"id": query["from"]["id"]}
            query.setdefault("chat_instance", str(chat["id"]))
            self.callbacks[query["id"]] = (int(query["from"]["id"]), query.get("data", ""))

    async def _send_message(self, token: str, method: str, params: dict[str, Any]) -> Answer:
        if int(params["chat_id"]) in self.blocked:
            return _refusal(403, "Forbidden: bot was blocked by the user")
        if self.too_many > 0:
            self.too_many -= 1
            return _refusal(
                429,
                f"Too Many Requests: retry after {self.retry_after}",
                retry_after=self.retry_after,
            )
        status, body = await self._forward(token, method, params)
        if body.get("ok"):
            body["result"]["date"] //= 1000  # the emulator gives milliseconds
        return status, body

    async def _edit(self, token: str, method: str, params: dict[str, Any]) -> Answer:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if chat_id is None or message_id is None:
            return _refusal(400, "Bad Request: chat_id and message_id are required here")
        if int(chat_id) in self.blocked:
            return _refusal(403, "Forbidden: bot was blocked by the user")
        stored = await self.stored_message(token, chat_id, message_id)
        if stored is None:
            return _refusal(400, "Bad Request: message to edit not found")
        status, body = await self._forward(token, method, params)
        if not body.get("ok"):
            return status, body
        message = {
            "message_id": int(message_id),
            "date": stored["time"] // 1000,
            "edit_date": int(time.time()),
            "chat": _chat(chat_id),
            "text": params.get("text", stored["message"].get("text", "")),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = json.loads(params["reply_markup"])
        return 200, {"ok": True, "result": message}

    async def _answer_callback_query(
        self, token: str, method: str, params: dict[str, Any]
    ) -> Answer:
        status, body = await self._forward(token, method, params)
        if body.get("ok"):
            self.answers[str(params["callback_query_id"])] = params
            body["result"] = True
        return status, body

    async def stored_message(self, token: str, chat_id: Any, message_id: Any) -> Any:
        """The bot's message as the emulator keeps it, or None."""
        assert self._http is not None
        url = f"{self.emulator_url}/getUpdatesHistory"
        async with self._http.post(url, json={"token": token}) as response:
            history = (await response.json())["result"]
        for entry in history:
            sent = entry.get("message") or {}
            if str(entry.get("messageId")) == str(message_id) and str(sent.get("chat_id")) == str(
                chat_id
            ):
                return entry
        return None
