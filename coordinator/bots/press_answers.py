"""A button press from the moment it is read to its answer and edit, whichever way it came.

Most updates go through python-telegram-bot, but a press on one of our buttons is most of the
traffic and building the library's objects for it (`Update.de_json`, the handler machinery)
was a quarter of a press's CPU. So the runtime reads such a press straight from Telegram's JSON
(`from_raw`) and the `press` handler, for everything the raw reading declines, builds the same
`Pressed` from the library's objects: from there both take the same road (`handle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.error import BadRequest
from telegram.ext import Application

from coordinator.bots import bot_api
from coordinator.bots.org_presses import OrgAnswer
from coordinator.bots.presses import Press, PressQueue, PressResult, ours
from coordinator.campaigns.reports import REFUSALS
from coordinator.delivery import messages
from coordinator.i18n import translate as _

App = Application[Any, Any, Any, Any, Any, Any]
BIGINT = 2**63  # ids go into signed 64-bit columns


@dataclass(frozen=True)
class Pressed:
    """A press and what its answer needs: the callback query to answer and who pressed."""

    press: Press
    query_id: str
    language_code: str | None


def locale_for(default: str, language_code: str | None, member_locale: str | None) -> str:
    """The member's language; else English for an English Telegram; else the deployment's."""
    if member_locale:
        return member_locale
    return "en" if (language_code or "").startswith("en") else default


def _int(value: Any, low: int = -BIGINT) -> bool:
    return type(value) is int and low < value < BIGINT  # bool is an int to Python: refused


def from_raw(raw: Any, bot: int) -> Pressed | None:
    """The press in an update as Telegram sent it, or None: then python-telegram-bot reads it
    as before. Only a callback query on one of our buttons (`presses.ours`) with every field
    the library itself requires, of the right type, is taken; anything odd is left to it."""
    if not isinstance(raw, dict) or raw.keys() != {"update_id", "callback_query"}:
        return None
    query, update_id = raw["callback_query"], raw["update_id"]
    if not _int(update_id, 0) or not isinstance(query, dict):
        return None
    data, user, message = query.get("data"), query.get("from"), query.get("message")
    if type(data) is not str or not ours(data) or type(query.get("id")) is not str:
        return None
    if type(query.get("chat_instance")) is not str or not isinstance(user, dict):
        return None
    code = user.get("language_code")
    if not _int(user.get("id"), 0) or type(user.get("is_bot")) is not bool:
        return None
    if type(user.get("first_name")) is not str or not (code is None or type(code) is str):
        return None
    chat_id = message_id = None
    if message is not None:
        chat = message.get("chat") if isinstance(message, dict) else None
        if not isinstance(chat, dict) or not _int(chat.get("id")) or not _int(message.get("date")):
            return None
        if type(chat.get("type")) is not str or not _int(message.get("message_id")):
            return None
        chat_id, message_id = chat["id"], message["message_id"]
    press = Press(update_id, user["id"], data, chat_id, raw, message_id, bot)
    return Pressed(press, query["id"], code)


async def handle(app: App, pressed: Pressed) -> None:
    """Recorded with the other presses waiting, then answered and shown. Errors are the
    caller's (the error handler, or the runtime's fast path), as for any handler."""
    queue: PressQueue = app.bot_data["presses"]
    press = pressed.press
    result = await queue.submit(press)
    if result.repeat:
        return
    if result.org is not None:
        await _org_answer(app, pressed, result.org)
        return
    locale = locale_for(app.bot_data.get("locale", "vi"), pressed.language_code, result.locale)
    if result.refusal == "not_linked":
        text = _(locale, "Link your account first: open your invite link.")
        await _answer(app, pressed, text, show_alert=True)
        return
    if result.refusal is not None or result.outcome is None:
        refusal = REFUSALS.get(result.refusal or "", "This cannot be recorded.")
        await _answer(app, pressed, _(locale, refusal), show_alert=True)
        return
    status = _(locale, messages.STATUS_LABELS[result.outcome.recorded.action])
    await _answer(app, pressed, _(locale, "Recorded: {status}", status=status))
    if result.ask_proof:
        # Optional, so kept in memory only: the next link this person sends is the proof.
        app.user_data[press.telegram_user_id]["proof_report"] = result.outcome.recorded.id
        text = _(locale, "If you like, send the link to your post as proof.")
        await app.bot.send_message(press.telegram_user_id, text)
    if result.view is not None and press.chat_id is not None and press.message_id is not None:
        await _show(app, press.chat_id, press.message_id, result)


async def _org_answer(app: App, pressed: Pressed, answer: OrgAnswer) -> None:
    """A focal point's press: the answer, and the task's message as it reads now."""
    await _answer(app, pressed, answer.note, show_alert=answer.refusal)
    press = pressed.press
    if answer.text is not None and press.chat_id is not None and press.message_id is not None:
        await _edit(app, press.chat_id, press.message_id, answer.text, answer.markup)


async def _show(app: App, chat_id: int, pressed: int, result: PressResult) -> None:
    """Show the task as it reads now. A press on an older copy (a resend took over: the task
    now lives in message `current`) counts like any other; that copy loses its buttons and
    points at the newer one, which gets the fresh status."""
    assert result.view is not None and result.outcome is not None
    view, locale, current = result.view
    tz = app.bot_data["timezone"]
    fresh = messages.card_text(view, locale, tz)
    markup = messages.buttons(view, locale)
    if current is not None and current != pressed:
        stale = messages.card_text(view, locale, tz, replaced=True)
        await _edit(app, chat_id, pressed, stale, None)
        if result.outcome.created:
            await _edit(app, chat_id, current, fresh, markup)
    elif result.outcome.created:
        await _edit(app, chat_id, pressed, fresh, markup)


async def _answer(app: App, pressed: Pressed, text: str, show_alert: bool = False) -> None:
    """answerCallbackQuery, lean (bots/bot_api.py): a press's answer needs nothing back."""
    fields: dict[str, Any] = {"callback_query_id": pressed.query_id, "text": text}
    if show_alert:
        fields["show_alert"] = True
    await bot_api.call(app.bot, "answerCallbackQuery", fields)


async def _edit(
    app: App, chat_id: int, message_id: int, text: str, markup: dict[str, Any] | None
) -> None:
    """The pressed message as it reads now, lean: the `Message` Telegram answers with is not
    built (at a thousand presses a second, that and the keyboard objects were most of the
    bot's own time)."""
    try:
        await bot_api.edit_message_text(app.bot, chat_id, message_id, text, markup)
    except BadRequest as exc:  # pressed twice: already showing this
        if "message is not modified" not in exc.message.lower():
            raise
