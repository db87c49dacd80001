"""The Bot API methods the coordinator's bot uses, with Telegram's validation and errors."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from coordinator.sandbox.errors import BotApiError, bad_request
from coordinator.sandbox.html import visible_text
from coordinator.sandbox.state import UPDATE_KINDS, Message, World

MAX_TEXT = 4096
JSON_FIELDS = (
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "link_preview_options",
    "entities",
)
COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
Method = Callable[[World, dict[str, Any]], Awaitable[Any]]


def normalize(params: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded requests carry objects as JSON strings; decode them like Telegram does."""
    for key in JSON_FIELDS:
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except json.JSONDecodeError:
                raise bad_request(f"can't parse {key} JSON object") from None
    return params


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise bad_request(f"{name} is empty" if name != "chat_id" else "chat_id is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _flag(params: dict[str, Any], name: str) -> bool:
    """A Boolean parameter as Telegram reads it: JSON true, or "true"/"1" in a form."""
    value = params.get(name)
    return value is True or str(value).lower() in ("true", "1")


def _text(params: dict[str, Any]) -> tuple[str, str | None]:
    text = str(params.get("text") or "")
    parse_mode = params.get("parse_mode") or None
    shown = visible_text(text, parse_mode)
    if not shown.strip():
        raise bad_request("message text is empty")
    if len(shown) > MAX_TEXT:
        raise bad_request("message is too long")
    return text, parse_mode


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        raise bad_request("unsupported reply_markup in this sandbox (inline_keyboard only)")
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise bad_request("BUTTON_TEXT_EMPTY")
            data = button.get("callback_data")
            url = button.get("url")
            if (data is None) == (url is None):
                raise bad_request('can\'t find field "callback_data" or "url"')
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
            if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return markup


async def get_me(world: World, params: dict[str, Any]) -> dict[str, Any]:
    return world.bot.as_user() | {
        "is_bot": True,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


async def get_updates(world: World, params: dict[str, Any]) -> list[dict[str, Any]]:
    if world.webhook.url:
        raise BotApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    if "allowed_updates" in params:
        kinds = params["allowed_updates"] or None
        world.allowed_updates = [k for k in kinds if k in UPDATE_KINDS] if kinds else None
    if "offset" in params:
        world.confirm(_int(params, "offset"))
    limit = min(max(_int(params, "limit", 100), 1), 100)
    timeout = min(max(_int(params, "timeout", 0), 0), 50)
    if not world.updates and timeout:
        async with world.new_update:
            try:
                await asyncio.wait_for(
                    world.new_update.wait_for(lambda: bool(world.updates) or world.closing), timeout
                )
            except TimeoutError:
                return []
    return world.updates[:limit]


async def set_webhook(world: World, params: dict[str, Any]) -> bool:
    url = str(params.get("url") or "")
    if url and not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise bad_request("secret token contains unallowed characters")
    world.webhook.url = url
    world.webhook.secret_token = secret
    world.webhook.allowed_updates = params.get("allowed_updates") or None
    if str(params.get("drop_pending_updates", "")).lower() == "true":
        world.updates.clear()
    return True


async def delete_webhook(world: World, params: dict[str, Any]) -> bool:
    world.webhook.url = ""
    world.webhook.secret_token = None
    if str(params.get("drop_pending_updates", "")).lower() == "true":
        world.updates.clear()
    return True


async def get_webhook_info(world: World, params: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "url": world.webhook.url,
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates),
    }
    if world.webhook.last_error_date:
        info["last_error_date"] = world.webhook.last_error_date
        info["last_error_message"] = world.webhook.last_error_message
    if world.webhook.allowed_updates:
        info["allowed_updates"] = world.webhook.allowed_updates
    return info


async def send_message(world: World, params: dict[str, Any]) -> dict[str, Any]:
    chat = world.chat_for_bot(params.get("chat_id"))
    text, parse_mode = _text(params)
    markup = _markup(params)
    world.limits.check(chat.id, paid=_flag(params, "allow_paid_broadcast"))
    message = world.store(
        Message(
            chat.id,
            world.next_message_id(chat.id),
            world.bot.id,
            world.now(),
            text,
            reply_markup=markup,
            parse_mode=parse_mode,
        )
    )
    world.sent += 1
    return world.render(message)


def _editable(world: World, params: dict[str, Any]) -> Message:
    if "inline_message_id" in params:
        raise bad_request("inline messages are not modelled by this sandbox")
    chat = world.chat_for_bot(params.get("chat_id"))
    message = world.message(chat.id, _int(params, "message_id"))
    if message is None:
        raise bad_request("message to edit not found")
    if message.from_id != world.bot.id:
        raise bad_request("message can't be edited")
    return message


async def edit_message_text(world: World, params: dict[str, Any]) -> dict[str, Any]:
    message = _editable(world, params)
    text, parse_mode = _text(params)
    markup = _markup(params)
    if text == message.text and markup == message.reply_markup:
        raise bad_request(
            "message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup "
            "of the message"
        )
    world.limits.check(message.chat_id)
    message.edits.append(message.text)
    world.edited += 1
    message.text, message.parse_mode, message.reply_markup = text, parse_mode, markup
    message.edit_date = world.now()
    return world.render(message)


async def edit_message_reply_markup(world: World, params: dict[str, Any]) -> dict[str, Any]:
    message = _editable(world, params)
    markup = _markup(params)
    if markup == message.reply_markup:
        raise bad_request(
            "message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup "
            "of the message"
        )
    world.limits.check(message.chat_id)
    message.reply_markup = markup
    message.edit_date = world.now()
    world.edited += 1
    return world.render(message)


async def answer_callback_query(world: World, params: dict[str, Any]) -> bool:
    query_id = str(params.get("callback_query_id") or "")
    if query_id not in world.callback_queries or query_id in world.callback_answers:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = str(params.get("text") or "")
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    world.callback_answers[query_id] = {
        "text": text,
        "show_alert": str(params.get("show_alert", "")).lower() == "true",
    }
    return True


async def delete_message(world: World, params: dict[str, Any]) -> bool:
    chat = world.chat_for_bot(params.get("chat_id"))
    message = world.message(chat.id, _int(params, "message_id"))
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    return True


async def set_my_commands(world: World, params: dict[str, Any]) -> bool:
    commands = params.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    for command in commands:
        if not COMMAND.match(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description must be 1-256 characters")
    world.commands[str(params.get("language_code") or "")] = commands
    return True


async def get_chat(world: World, params: dict[str, Any]) -> dict[str, Any]:
    chat = world.chat_for_bot(params.get("chat_id"))
    return chat.as_chat(world.people) | {"accent_color_id": 0, "max_reaction_count": 11}


METHODS: dict[str, Method] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "answercallbackquery": answer_callback_query,
    "deletemessage": delete_message,
    "setmycommands": set_my_commands,
    "getchat": get_chat,
}
