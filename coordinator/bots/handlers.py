"""What the bot does with each update: onboarding, commands, and button presses."""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from coordinator.bots import press_answers
from coordinator.bots.presses import Press
from coordinator.bots.updates import mark_processed, seen_before
from coordinator.campaigns.reports import attach_proof
from coordinator.campaigns.tasks import open_tasks
from coordinator.db import Database
from coordinator.delivery import messages
from coordinator.errors import DomainError
from coordinator.i18n import translate as _
from coordinator.organizations import onboarding

logger = logging.getLogger("coordinator.bot")
Context = ContextTypes.DEFAULT_TYPE


def _db(context: Context) -> Database:
    db: Database = context.bot_data["db"]
    return db


def _bot(context: Context) -> int:
    """This application's bot (its row in `bot`): update ids and chats are per bot."""
    bot: int = context.bot_data["bot"]
    return bot


def _locale(context: Context, update: Update, member_locale: str | None = None) -> str:
    code = update.effective_user.language_code if update.effective_user else None
    return press_answers.locale_for(context.bot_data.get("locale", "vi"), code, member_locale)


async def _reply(update: Update, text: str) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)


async def once(update: Update, context: Context) -> None:
    """Runs first: an update seen and handled before changes nothing. (Button presses are
    checked in their batch's commit instead: `presses.record_presses`.)"""
    if update.callback_query is None and await seen_before(_db(context), update, _bot(context)):
        raise ApplicationHandlerStop


async def done_with(update: Update, context: Context) -> None:
    if update.callback_query is None:
        await mark_processed(_db(context), update, _bot(context))


async def came_back(update: Update, context: Context) -> None:
    """Runs before the others: a private message from a member Telegram refused means they
    unblocked the bot; a message from a refused group means the bot is back in it."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    if chat.type == "private":
        await onboarding.came_back(_db(context), user.id, _bot(context))
    else:
        await onboarding.group_came_back(_db(context), chat.id, _bot(context))


async def start(update: Update, context: Context) -> None:
    user = update.effective_user
    assert user is not None
    db = _db(context)
    if context.args:
        try:
            linked = await onboarding.link_account(db, context.args[0], user.id, _bot(context))
        except DomainError as exc:
            await _reply(update, _refusal(_locale(context, update), exc))
            return
        if isinstance(linked, onboarding.LinkedUser):
            await _reply(
                update,
                _(
                    linked.locale,
                    "Connected, {username}. Your digests will arrive here.",
                    username=escape(linked.username),
                ),
            )
            return
        await _reply(
            update,
            _(
                linked.locale,
                "Welcome, {name}! You are now linked to {organization}. "
                "Your tasks will arrive here.",
                name=escape(linked.display_name),
                organization=escape(linked.organization),
            ),
        )
        return
    member = await onboarding.member_by_telegram(db, user.id)
    if member is None:
        await _reply(
            update,
            _(
                _locale(context, update),
                "To join, open the invite link your organization sent you.",
            ),
        )
        return
    if member.opted_out_at is not None:
        await onboarding.set_opt_out(db, user.id, False)
        await _reply(update, _(member.locale, "Welcome back! You will receive tasks again."))
        return
    await _reply(update, _(member.locale, "You are linked. Send /tasks to see your open tasks."))


def _refusal(locale: str, exc: DomainError) -> str:
    if exc.code == "invite_elsewhere":  # the name of the bot that serves the invite's people
        return _(locale, onboarding.OTHER_BOT, username=escape(exc.values["username"]))
    if exc.code == "account_taken":
        return _(locale, "This Telegram account is already linked to another member.")
    return _(
        locale,
        "This invite link is not valid or has expired. Ask your organization for a new one.",
    )


async def start_in_group(update: Update, context: Context) -> None:
    chat = update.effective_chat
    assert chat is not None
    if not context.args:
        return
    try:
        name = await onboarding.register_group(
            _db(context), context.args[0], chat.id, chat.title or "", _bot(context)
        )
    except DomainError as exc:
        locale = _locale(context, update)
        text = _(locale, "This group link is not valid or has expired.")
        if exc.code == "invite_elsewhere":
            text = _(locale, onboarding.OTHER_BOT, username=escape(exc.values["username"]))
        await _reply(update, text)
        return
    await _reply(
        update, _(_locale(context, update), "This group now receives tasks for {name}.", name=name)
    )


async def stop(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    member = await onboarding.set_opt_out(_db(context), update.effective_user.id, True)
    locale = _locale(context, update, member.locale if member else None)
    await _reply(
        update, _(locale, "You will no longer receive tasks. Send /start to receive them again.")
    )


async def language(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    choice = (context.args or [""])[0].lower()
    if choice not in ("vi", "en"):
        await _reply(update, _(_locale(context, update), "Use /lang vi or /lang en."))
        return
    await onboarding.set_locale(_db(context), update.effective_user.id, choice)
    await _reply(update, _(choice, "Language set to English."))


async def help_command(update: Update, context: Context) -> None:
    member = (
        await onboarding.member_by_telegram(_db(context), update.effective_user.id)
        if update.effective_user
        else None
    )
    await _reply(
        update,
        _(
            _locale(context, update, member.locale if member else None),
            "/tasks: your open tasks\n/stop: stop receiving tasks\n"
            "/start: receive them again\n/lang vi|en: language",
        ),
    )


async def tasks(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    db = _db(context)
    member = await onboarding.member_by_telegram(db, update.effective_user.id)
    if member is None:
        await _reply(
            update,
            _(
                _locale(context, update),
                "To join, open the invite link your organization sent you.",
            ),
        )
        return
    tasks = await open_tasks(db, member.id or 0)
    if not tasks:
        await _reply(update, _(member.locale, "You have no open tasks."))
        return
    tz = context.bot_data["timezone"]
    lines = [_(member.locale, "Your open tasks:")]
    for assignment, campaign in tasks:
        deadline = campaign.deadline_at.astimezone(tz).strftime("%H:%M %d/%m")
        status = _(member.locale, messages.STATUS_LABELS[assignment.status])
        lines.append(f"• <b>{escape(campaign.title)}</b> ({deadline}): {status}")
    await _reply(update, "\n".join(lines))


async def press(update: Update, context: Context) -> None:
    """A button the runtime's raw reading left to the library (`press_answers.from_raw`):
    the same press, built from the library's objects, takes the same road."""
    query = update.callback_query
    assert query is not None and query.from_user is not None
    message = query.message
    press = Press(
        update.update_id,
        query.from_user.id,
        query.data or "",
        message.chat.id if message is not None else None,
        context.bot_data["raw_updates"].take(update),
        message.message_id if message is not None else None,
        _bot(context),
    )
    pressed = press_answers.Pressed(press, query.id, query.from_user.language_code)
    await press_answers.handle(context.application, pressed)


async def proof(update: Update, context: Context) -> None:
    """A plain message after a Done that asked for proof: keep it if it is a link."""
    report_id = (context.user_data or {}).get("proof_report")
    message, user = update.effective_message, update.effective_user
    if report_id is None or message is None or user is None or not message.text:
        return
    member = await onboarding.member_by_telegram(_db(context), user.id)
    if member is None:
        return
    try:
        await attach_proof(_db(context), report_id, member.id or 0, message.text.strip())
    except DomainError:
        await _reply(
            update, _(member.locale, "That is not a link. Send one that starts with https://")
        )
        return
    context.user_data.pop("proof_report", None)  # type: ignore[union-attr]
    await _reply(update, _(member.locale, "Thank you, the link is saved."))


async def migrated(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is not None and message.migrate_to_chat_id:
        await onboarding.migrate_group(_db(context), message.chat.id, message.migrate_to_chat_id)


def install(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    # /stop is not a return; /start <invite> (re)links and tells the leads itself.
    not_back = filters.Regex(r"^/stop\b") | filters.Regex(r"^/start\s+\S")
    application.add_handler(MessageHandler(~not_back, came_back), group=-2)
    application.add_handler(TypeHandler(Update, once), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", start, filters=private),
            CommandHandler("start", start_in_group, filters=groups),
            CommandHandler("stop", stop, filters=private),
            CommandHandler("lang", language, filters=private),
            CommandHandler("help", help_command, filters=private),
            CommandHandler("tasks", tasks, filters=private),
            CallbackQueryHandler(press, pattern=r"^[to]:"),
            MessageHandler(filters.StatusUpdate.MIGRATE, migrated),
            MessageHandler(private & filters.TEXT & ~filters.COMMAND, proof),
        ]
    )
    application.add_handler(TypeHandler(Update, done_with), group=1)
