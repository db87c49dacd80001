"""The user side of the sandbox: what volunteers and group members do in Telegram."""

from __future__ import annotations

import itertools
from typing import Any

from coordinator.sandbox.errors import bad_request
from coordinator.sandbox.state import Chat, Message, World

_query_ids = itertools.count(1)


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


def _chat_for_person(world: World, user_id: int, chat_id: int | None) -> Chat:
    person = world.person(user_id)
    chat = world.chats.get(chat_id if chat_id is not None else person.id)
    if chat is None:
        raise bad_request("chat not found")
    if chat.type != "private" and user_id not in chat.members:
        raise bad_request("the user is not a member of this group")
    if chat.migrated_to is not None:
        raise bad_request("the group moved to a supergroup", migrate_to_chat_id=chat.migrated_to)
    if chat.type == "private" and person.blocked_bot:
        raise bad_request("the user has blocked the bot; unblock it first")
    return chat


async def send_text(
    world: World, user_id: int, text: str, chat_id: int | None = None
) -> dict[str, Any]:
    """A person writes to the bot (or in a group the bot is in); the bot gets an update."""
    if not text:
        raise bad_request("message text is empty")
    chat = _chat_for_person(world, user_id, chat_id)
    message = world.store(
        Message(
            chat.id,
            world.next_message_id(chat.id),
            user_id,
            world.now(),
            text,
            entities=_command_entities(text),
        )
    )
    rendered = world.render(message)
    if chat.type == "private" or chat.bot_is_member:
        await world.push_update("message", rendered)
    return rendered


async def press(world: World, user_id: int, chat_id: int, message_id: int, data: str) -> str:
    """A person presses an inline button; returns the callback query id to read the answer."""
    chat = _chat_for_person(world, user_id, chat_id)
    message = world.message(chat.id, message_id)
    if message is None or message.from_id != world.bot.id:
        raise bad_request("message not found")
    buttons = [b for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]
    if not any(b.get("callback_data") == data for b in buttons):
        raise bad_request("the message has no button with this callback_data")
    query_id = f"{world.bot.id}{next(_query_ids):012d}"
    query = {
        "id": query_id,
        "from": world.person(user_id).as_user(),
        "message": world.render(message),
        "chat_instance": str(abs(hash((world.bot.id, chat.id))) % 10**18),
        "data": data,
    }
    world.callback_queries[query_id] = query
    await world.push_update("callback_query", query)
    return query_id


async def add_bot_to_group(
    world: World, user_id: int, chat_id: int, start_parameter: str | None
) -> None:
    """A member adds the bot, as a `?startgroup=` link does: a membership update, then /start."""
    chat = _chat_for_person(world, user_id, chat_id)
    chat.bot_is_member = True
    await world.push_update(
        "my_chat_member",
        {
            "chat": chat.as_chat(world.people),
            "from": world.person(user_id).as_user(),
            "date": world.now(),
            "old_chat_member": {"status": "left", "user": world.bot.as_user() | {"is_bot": True}},
            "new_chat_member": {"status": "member", "user": world.bot.as_user() | {"is_bot": True}},
        },
    )
    if start_parameter:
        await send_text(world, user_id, f"/start@{world.bot.username} {start_parameter}", chat.id)


async def migrate_group(world: World, chat_id: int) -> int:
    """Upgrade a group to a supergroup: a new id, and the old one answers with where it went."""
    old = world.chats.get(chat_id)
    if old is None or old.type != "group":
        raise bad_request("only a basic group can be upgraded")
    new = world.add_group(old.title or "", sorted(old.members), supergroup=True)
    new.bot_is_member = old.bot_is_member
    old.migrated_to = new.id
    service = world.store(
        Message(old.id, world.next_message_id(old.id), min(old.members), world.now(), "")
    )
    rendered = world.render(service)
    del rendered["text"]
    await world.push_update("message", rendered | {"migrate_to_chat_id": new.id})
    return new.id


def history(world: World, chat_id: int) -> list[dict[str, Any]]:
    """Everything in a chat as its members saw it, with earlier versions of edited messages."""
    return [
        world.render(m) | {"deleted": m.deleted, "earlier_versions": m.edits}
        for m in world.messages.get(chat_id, {}).values()
    ]
