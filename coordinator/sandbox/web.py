"""The sandbox slice in the browser, the volunteer simulator: a staff member sees the Telegram
chat (in the Bot API sandbox) of a demo volunteer, or of a lead or focal point linked to their
own Telegram, and acts as them. Only there when the sandbox runs in-process (no real Telegram)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from litestar import get, post
from litestar.params import PathParameter
from litestar.response import Template

from coordinator.auth.scope import Actor
from coordinator.base import plain_digits
from coordinator.errors import Invalid, NotFound
from coordinator.http import (
    DB,
    CurrentActor,
    OptionalTelegramQueryId,
    PageOffset,
    Search,
    TelegramPathId,
)
from coordinator.i18n import translate
from coordinator.sandbox.volunteers import chat_owner, group_chat, list_staff, list_volunteers
from coordinator.web.context import AnyRequest, Form, locale_of, page, sandbox_url


def _sandbox(request: AnyRequest) -> str:
    url = sandbox_url(request)
    if url is None:
        raise NotFound("The simulator needs the built-in Telegram sandbox.")
    return url


async def _call(request: AnyRequest, method: str, path: str, body: Any = None) -> Any:
    try:
        async with httpx.AsyncClient(base_url=_sandbox(request), timeout=5) as client:
            response = await client.request(method, "/sandbox/" + path, json=body)
        payload = response.json()
    except (httpx.HTTPError, ValueError):
        raise Invalid("The Telegram sandbox did not answer; try again.") from None
    if not payload.get("ok"):
        raise Invalid(str(payload.get("description", "The sandbox refused.")))
    return payload["result"]


@get("/simulator")
async def simulator_page(
    request: AnyRequest, db: DB, actor: CurrentActor, q: Search = None, offset: PageOffset = 0
) -> Template:
    _sandbox(request)
    lang = locale_of(request)
    volunteers, groups = await list_volunteers(db, actor, q, offset)
    staff = await list_staff(db, actor, q) if offset == 0 else []
    return page(
        request,
        "sandbox/simulator.html",
        title=translate(lang, "Volunteer simulator"),
        actor=actor,
        volunteers=volunteers,
        staff=staff,
        groups=groups,
        q=q or "",
    )


@get("/simulator/chat/{telegram_id:int}")
async def chat_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    telegram_id: TelegramPathId,
    group: OptionalTelegramQueryId = None,
) -> Template:
    lang = locale_of(request)
    name = await chat_owner(db, actor, telegram_id)
    return page(
        request,
        "sandbox/simulator_chat.html",
        title=translate(lang, "Telegram chat of {name}", name=name),
        actor=actor,
        crumbs=[("/simulator", translate(lang, "Volunteer simulator"))],
        group=group,
        **await _chat(request, db, actor, telegram_id, group),
    )


async def _chat(
    request: AnyRequest, db: DB, actor: Actor, telegram_id: TelegramPathId, group: int | None
) -> dict[str, Any]:
    chat_id = telegram_id
    if group is not None:
        await group_chat(db, actor, group)
        chat_id = group
    messages = await _call(request, "GET", f"chats/{chat_id}/messages")
    return {"messages": messages, "chat_id": chat_id, "telegram_id": telegram_id}


@get("/simulator/chat/{telegram_id:int}/messages")
async def messages_partial(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    telegram_id: TelegramPathId,
    group: OptionalTelegramQueryId = None,
) -> Template:
    await chat_owner(db, actor, telegram_id)
    return page(
        request,
        "sandbox/partials/chat.html",
        title="",
        actor=actor,
        group=group,
        **await _chat(request, db, actor, telegram_id, group),
    )


@post("/simulator/chat/{telegram_id:int}/press")
async def press(
    request: AnyRequest, db: DB, actor: CurrentActor, telegram_id: TelegramPathId, data: Form
) -> Template:
    """Press an inline button as the volunteer; the bot's answer shows as a toast."""
    await chat_owner(db, actor, telegram_id)
    group = (
        int(data["group"]) if plain_digits(str(data.get("group", "")).removeprefix("-")) else None
    )
    chat_id = group if group is not None else telegram_id
    if group is not None:
        await _chat(request, db, actor, telegram_id, group)  # checks the group is in scope
        await _call(request, "POST", f"groups/{group}/members", {"user_id": telegram_id})
    pressed = await _call(
        request,
        "POST",
        "presses",
        {
            "user_id": telegram_id,
            "chat_id": chat_id,
            "message_id": int(data.get("message_id", 0)),
            "data": str(data.get("data", "")),
        },
    )
    return page(
        request,
        "sandbox/partials/pressed.html",
        title="",
        query_id=pressed["callback_query_id"],
        telegram_id=telegram_id,
    )


@get("/simulator/chat/{telegram_id:int}/answers/{query_id:str}")
async def answer_partial(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    telegram_id: TelegramPathId,
    query_id: Annotated[str, PathParameter(max_length=40)],
) -> Template:
    """The bot's callback answer ("Recorded: Done"), polled until it arrives; only for a
    volunteer the actor may see, and only for that volunteer's own press."""
    await chat_owner(db, actor, telegram_id)
    answer = await _call(request, "GET", f"callback-answers/{query_id}")
    if answer is not None and answer.get("user_id") != telegram_id:
        raise NotFound("No such answer.")
    return page(
        request,
        "sandbox/partials/pressed.html",
        title="",
        query_id=query_id,
        telegram_id=telegram_id,
        answer=answer,
    )


@post("/simulator/chat/{telegram_id:int}/send")
async def send(
    request: AnyRequest, db: DB, actor: CurrentActor, telegram_id: TelegramPathId, data: Form
) -> Template:
    await chat_owner(db, actor, telegram_id)
    text = _typed(data)
    if text:
        await _call(request, "POST", "messages", {"user_id": telegram_id, "text": text})
    return page(
        request,
        "sandbox/partials/chat.html",
        title="",
        actor=actor,
        group=None,
        **await _chat(request, db, actor, telegram_id, None),
    )


def _typed(data: dict[str, Any]) -> str:
    """What the volunteer sends: a command button's `command`, else the typed `text`. A form
    field sent twice arrives as a list; its last non-empty value counts."""
    sent = data.get("command") or data.get("text", "")
    if isinstance(sent, list):
        sent = next((str(v) for v in reversed(sent) if str(v).strip()), "")
    return str(sent).strip()[:4096]


ROUTES = [simulator_page, chat_page, messages_partial, press, answer_partial, send]
