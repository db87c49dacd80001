"""The sandbox as an ASGI app: the Bot API at /bot<token>/<method>, the user side at /sandbox/.

The user side (JSON in, JSON out):
  POST /sandbox/users                     {"first_name", "username"?, "language_code"?}
  POST /sandbox/groups                    {"title", "member_ids", "supergroup"?}
  POST /sandbox/groups/<chat>/members     {"user_id"}
  POST /sandbox/groups/<chat>/bot         {"user_id", "start_parameter"?}  (a ?startgroup= link)
  POST /sandbox/groups/<chat>/migrate     upgrade to a supergroup
  POST /sandbox/messages                  {"user_id", "text", "chat_id"?}
  POST /sandbox/presses                   {"user_id", "chat_id", "message_id", "data"}
  GET  /sandbox/callback-answers/<id>     the bot's answer to a press
  POST /sandbox/users/<id>/<block|unblock|deactivate>
  GET  /sandbox/chats/<chat>/messages     the chat as its members see it
  PUT  /sandbox/limits                    {"enabled": true|false, "flood_wait"?: seconds}
                                          Telegram's flood limits; flood_wait refuses every
                                          message for that long (a bot-wide 429)
  PUT  /sandbox/stars                     {"stars": n}  the bot's balance for paid broadcasts
  GET  /sandbox/stats                     messages sent and edited, callbacks answered, 429s
  PUT  /sandbox/delay                     {"seconds": n}  hold every Bot API call before handling it
                                          (then handle it: a client that timed out meanwhile
                                          never learns that it was sent; stats say how many
                                          calls are being held)
  PUT  /sandbox/failures                  {"method", "status"}  answer that method with an error
                                          (status 500, 502, ...; 0 answers normally again)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from coordinator.sandbox import people
from coordinator.sandbox.errors import BotApiError, bad_request
from coordinator.sandbox.methods import METHODS, normalize
from coordinator.sandbox.state import World

logger = logging.getLogger("coordinator.sandbox")
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, status: int, payload: Any) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _params(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(scope.get("query_string", b"").decode()))
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode()
    if body and content_type.startswith("application/json"):
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise bad_request("request body must be a JSON object")
        params.update(decoded)
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode()))
    elif body and content_type.startswith("multipart/form-data"):
        raise bad_request("multipart uploads are not modelled by this sandbox")
    return params


UNHANDLED = object()  # a side of the user API that does not serve this path


class Sandbox:
    """The ASGI app around one World, plus the webhook delivery loop."""

    def __init__(self, world: World | None = None) -> None:
        self.world = world or World()
        self._webhook_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        body = await _body(receive)
        try:
            if path.startswith("/bot"):
                await self._bot_api(scope, path, body, send)
            elif path.startswith("/sandbox/"):
                result = await self._user_side(
                    scope["method"], path.split("/")[2:], json.loads(body) if body else {}
                )
                await _reply(send, 200, {"ok": True, "result": result})
            else:
                await _reply(
                    send, 404, {"ok": False, "error_code": 404, "description": "Not Found"}
                )
        except BotApiError as exc:
            await _reply(send, exc.code, exc.body())
        except (ValueError, KeyError, TypeError) as exc:
            await _reply(send, 400, bad_request(f"malformed request: {exc}").body())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                self.start_webhook_delivery()
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.stop_webhook_delivery()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _bot_api(self, scope: dict[str, Any], path: str, body: bytes, send: Send) -> None:
        token, _, method = path[len("/bot") :].partition("/")
        if token != self.world.token:
            raise BotApiError(401, "Unauthorized")
        handler = METHODS.get(method.lower())
        if handler is None:
            raise BotApiError(404, "Not Found")
        failing = self.world.failing.get(method.lower())
        if failing:
            raise BotApiError(failing, "Internal Server Error")
        await self._hold()
        result = await handler(self.world, normalize(_params(scope, body)))
        await _reply(send, 200, {"ok": True, "result": result})

    async def _hold(self) -> None:
        """Hold the call while a delay is switched on (and let it go as soon as it is off)."""
        if self.world.delay:
            self.world.held += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.world.undelayed.wait(), self.world.delay)
            finally:
                self.world.held -= 1

    async def _user_side(self, method: str, parts: list[str], data: dict[str, Any]) -> Any:
        for side in (self._people_side, self._controls):
            answer = await side(method, parts, data)
            if answer is not UNHANDLED:
                return answer
        raise BotApiError(404, "Not Found")

    async def _people_side(self, method: str, parts: list[str], data: dict[str, Any]) -> Any:
        """What the sandbox's people do: join, write, press, block, read their chat."""
        w = self.world
        match method, parts:
            case "POST", ["users"]:
                person = w.add_person(
                    data["first_name"], data.get("username"), data.get("language_code")
                )
                return person.as_user()
            case "POST", ["groups"]:
                chat = w.add_group(
                    data["title"],
                    [int(i) for i in data.get("member_ids", [])],
                    bool(data.get("supergroup")),
                )
                chat.bot_is_member = False
                return chat.as_chat(w.people)
            case "POST", ["groups", chat_id, "members"]:
                w.chats[int(chat_id)].members.add(int(data["user_id"]))
                return True
            case "POST", ["groups", chat_id, "bot"]:
                await people.add_bot_to_group(
                    w, int(data["user_id"]), int(chat_id), data.get("start_parameter")
                )
                return True
            case "POST", ["groups", chat_id, "migrate"]:
                return {"migrate_to_chat_id": await people.migrate_group(w, int(chat_id))}
            case "POST", ["messages"]:
                target = data.get("chat_id")
                return await people.send_text(
                    w,
                    int(data["user_id"]),
                    str(data["text"]),
                    int(target) if target is not None else None,
                )
            case "POST", ["presses"]:
                query_id = await people.press(
                    w,
                    int(data["user_id"]),
                    int(data["chat_id"]),
                    int(data["message_id"]),
                    str(data["data"]),
                )
                return {"callback_query_id": query_id}
            case "GET", ["callback-answers", query_id]:
                answer = w.callback_answers.get(query_id)
                query = w.callback_queries.get(query_id)
                if answer is None or query is None:
                    return None
                return {**answer, "user_id": query["from"]["id"]}  # who pressed
            case "POST", ["users", user_id, action] if action in ("block", "unblock", "deactivate"):
                person = w.person(int(user_id))
                if action == "deactivate":
                    person.deactivated = True
                else:
                    person.blocked_bot = action == "block"
                return True
            case "GET", ["chats", chat_id, "messages"]:
                return people.history(w, int(chat_id))
        return UNHANDLED

    async def _controls(self, method: str, parts: list[str], data: dict[str, Any]) -> Any:
        """What tests and demos turn: rate limits, failing methods, stars, delay, statistics."""
        w = self.world
        match method, parts:
            case "PUT", ["limits"]:
                w.limits.enabled = bool(data["enabled"])
                w.limits.reset()
                if data.get("flood_wait"):
                    w.limits.flood(float(data["flood_wait"]))
                return {"enabled": w.limits.enabled}
            case "PUT", ["failures"]:
                status = int(data.get("status") or 0)
                if status:
                    w.failing[str(data["method"]).lower()] = status
                else:
                    w.failing.pop(str(data["method"]).lower(), None)
                return dict(w.failing)
            case "PUT", ["stars"]:
                w.limits.stars_tenths = round(float(data["stars"]) * 10)
                return {"stars": w.limits.stars_tenths / 10}
            case "PUT", ["delay"]:
                w.delay = float(data["seconds"])
                return {"seconds": w.delay}
            case "GET", ["stats"]:
                return {
                    "sent": w.sent,
                    "edited": w.edited,
                    "callback_answers": len(w.callback_answers),
                    "refused_429": w.limits.refused,
                    "refused_429_chat": w.limits.refused_chat,
                    "refused_429_overall": w.limits.refused_overall,
                    "paid_sent": w.limits.paid_sent,
                    "stars_spent": w.limits.spent_tenths / 10,
                    "stars_balance": w.limits.stars_tenths / 10,
                    "pending_updates": len(w.updates),
                    "held": w.held,
                }
        return UNHANDLED

    # -- webhook delivery ---------------------------------------------------------------
    def start_webhook_delivery(self) -> None:
        if self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver_webhooks())

    async def stop_webhook_delivery(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None

    async def _deliver_webhooks(self) -> None:
        """POST updates one by one, in order; on failure retry with backoff, like Telegram."""
        w = self.world
        backoff = 0.1
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                async with w.new_update:
                    await w.new_update.wait_for(lambda: bool(w.updates and w.webhook.url))
                update = w.updates[0]
                headers = {}
                if w.webhook.secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = w.webhook.secret_token
                try:
                    response = await client.post(w.webhook.url, json=update, headers=headers)
                    ok = 200 <= response.status_code < 300
                    error = f"Wrong response from the webhook: {response.status_code}"
                except httpx.HTTPError as exc:
                    ok, error = False, f"Connection failed: {type(exc).__name__}"
                if ok:
                    if w.updates and w.updates[0] is update:
                        w.updates.pop(0)
                    backoff = 0.1
                    continue
                w.webhook.last_error_date, w.webhook.last_error_message = w.now(), error
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
