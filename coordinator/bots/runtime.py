"""Running the bot and the sender inside our own asyncio lifecycle (not run_polling).

Nothing here waits on Telegram before the rest of the process runs: getMe, the webhook (or its
removal) and the commands are set-up jobs retried in the background with capped backoff, and
their progress is kept in `bot_state`. The sender, the poller and the webhook inbox are loops
under the supervisor: one that fails is logged and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application, ContextTypes

from coordinator.bots import handlers, identity, press_answers, updates
from coordinator.bots.presses import PressQueue
from coordinator.bots.sender import Lane, Sender
from coordinator.bots.telegram_client import make_bot
from coordinator.db import Database
from coordinator.leader import Leader
from coordinator.settings import Settings
from coordinator.supervisor import Beat, Supervisor, recording
from coordinator.supervisor import describe as describe_error

logger = logging.getLogger("coordinator.bot")
UPDATES = ["message", "callback_query", "my_chat_member"]
POLL_SECONDS = 20  # getUpdates' long poll
UPDATES_LOCK = 0x636F6F7275  # the advisory lock of the one update reader per deployment
STANDBY = 1.0  # seconds between a standby's tries to take the updates
LEAD_CHECK = 2.0  # the inbox checks it still leads this often
COMMANDS = {
    "vi": [
        ("tasks", "Nhiệm vụ đang mở"),
        ("stop", "Ngừng nhận nhiệm vụ"),
        ("lang", "Đổi ngôn ngữ: /lang vi | /lang en"),
        ("help", "Hướng dẫn"),
    ],
    "en": [
        ("tasks", "Your open tasks"),
        ("stop", "Stop receiving tasks"),
        ("lang", "Language: /lang vi | /lang en"),
        ("help", "Help"),
    ],
}


@dataclass
class Telegram:
    """One bot's lane: its handlers, its sender and its update reader."""

    application: Application[Any, Any, Any, Any, Any, Any]
    sender: Sender
    updates_leader: Leader  # the one process that polls or drains this bot's webhook inbox
    lane: Lane = field(default_factory=Lane)
    # Set once getMe has answered: commands are matched against the bot's name, so updates
    # wait for it (sending does not).
    identified: asyncio.Event = field(default_factory=asyncio.Event)


async def _identified(telegram: Telegram, stop: asyncio.Event) -> bool:
    """Wait until getMe has answered (True) or the bot stops (False)."""
    waiting = [asyncio.ensure_future(e.wait()) for e in (telegram.identified, stop)]
    _, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    return telegram.identified.is_set() and not stop.is_set()


def build(
    db: Database,
    settings: Settings,
    token: str,
    base_url: str | None,
    lane: Lane | None = None,
) -> Telegram:
    """One bot's lane (the default bot unless `lane` names another, registered by
    `identity.sync_bots`): its own Telegram budget, updates and set-up."""
    lane = lane or Lane()
    bot = make_bot(token, base_url)
    # Updates are handled concurrently: the more presses in flight, the more each commit of the
    # press queue records at once. Each press locks its own task row, so order per task holds.
    # No Updater: the poller below is a supervised loop of our own.
    application = Application.builder().bot(bot).updater(None).concurrent_updates(256).build()
    application.bot_data.update(
        db=db,
        timezone=settings.timezone,
        locale=settings.locale,
        presses=PressQueue(db, settings.locale, name=lane.name),
        bot=lane.bot,  # the `bot` row: which updates, chats and identity are this bot's
        raw_updates=updates.RawUpdates(),
    )
    handlers.install(application)
    application.add_error_handler(_record_failure)
    sender = Sender(
        db,
        bot,
        rate=settings.send_rate,
        timezone=settings.timezone,
        locale=settings.locale,
        paid_broadcast=settings.paid_broadcast,
        lane=lane,
    )
    updates_leader = Leader(db, lane.lock(UPDATES_LOCK), lane.job("updates"))
    return Telegram(application, sender, updates_leader, lane)


def describe(exc: BaseException, token: str | None = None) -> str:
    """An error as stored and shown: its type and message, never the bot token."""
    text = describe_error(exc)
    return text.replace(token, "<token>") if token else text


async def _record_failure(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler raised: python-telegram-bot goes on; the update is kept as failed, with why."""
    logger.error("an update failed", exc_info=context.error)
    if isinstance(update, Update) and context.error is not None:
        await updates.mark_failed(
            context.bot_data["db"],
            update.update_id,
            describe(context.error, context.bot.token),
            context.bot_data["bot"],
        )


def fast_press(
    app: Application[Any, Any, Any, Any, Any, Any], raw: Any
) -> Coroutine[Any, Any, None] | None:
    """The handling of a press on one of our buttons read straight from Telegram's JSON, for
    the poller and the webhook inbox alike; None for any other update (python-telegram-bot's).
    What `_record_failure` does for a handler that raises, this does for the press."""
    pressed = press_answers.from_raw(raw, app.bot_data["bot"])
    if pressed is None:
        return None

    async def handling(pressed: press_answers.Pressed) -> None:
        try:
            await press_answers.handle(app, pressed)
        except Exception as exc:
            logger.error("an update failed", exc_info=exc)
            db, bot, token = app.bot_data["db"], app.bot_data["bot"], app.bot.token
            try:
                await updates.mark_failed(db, pressed.press.update_id, describe(exc, token), bot)
            except Exception:  # as an error handler's own failure: logged, the loop goes on
                logger.exception("update %s could not be kept as failed", raw["update_id"])

    return handling(pressed)


async def _handle_pending(
    app: Application[Any, Any, Any, Any, Any, Any], pending: list[Any]
) -> None:
    """Stored updates as the poller takes them: the presses on our buttons all at once, so the
    press queue records them in one commit and their answers go out together (one at a time,
    each was a commit of its own); every other update in order, as before. A press's batch
    marks its update handled (`presses._claim_updates`); a failure marks it failed."""
    pressing = []
    for payload in pending:
        fast = fast_press(app, payload)
        if fast is not None:
            pressing.append(asyncio.ensure_future(fast))
        else:
            await _handle_other(app, payload)
    await asyncio.gather(*pressing)


async def _handle_stored(app: Application[Any, Any, Any, Any, Any, Any], payload: Any) -> None:
    await _handle_pending(app, [payload])


async def _handle_other(app: Application[Any, Any, Any, Any, Any, Any], payload: Any) -> None:
    db: Database = app.bot_data["db"]
    bot: int = app.bot_data["bot"]
    update_id = int(payload["update_id"])
    try:
        update = Update.de_json(payload, app.bot)
        app.bot_data["raw_updates"].keep(payload)
        await app.process_update(update)
    except Exception as exc:  # a malformed update must not stop the ones behind it
        logger.exception("update %s could not be handled; kept as failed", update_id)
        await updates.mark_failed(db, update_id, describe(exc, app.bot.token), bot)
        return
    await updates.mark_processed_id(db, update_id, bot)


async def handle_inbox(
    telegram: Telegram, stop: asyncio.Event, beat: Beat | None = None, idle: float = 0.2
) -> None:
    """Webhook mode: handle the updates the web route stored, oldest first, each once."""
    app = telegram.application
    db: Database = app.bot_data["db"]
    if not await _identified(telegram, stop):
        return
    checked = 0.0
    while not stop.is_set():
        if time.monotonic() - checked > LEAD_CHECK:
            if not await _lead_updates(telegram, stop, beat):
                return
            checked = time.monotonic()
        pending = await updates.unprocessed(db, bot=app.bot_data["bot"])
        await _handle_pending(app, pending)
        if beat is not None:
            beat.ok()
        if not pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle)


async def _lead_updates(telegram: Telegram, stop: asyncio.Event, beat: Beat | None) -> bool:
    """One process per deployment takes the updates: Telegram answers a second concurrent
    getUpdates with 409 Conflict, and two webhook inboxes would handle an update twice. The
    others stand by (healthy) and take over when the leader's lock goes. False once stopped."""
    while not stop.is_set():
        if await telegram.updates_leader.try_lead():
            return True
        if beat is not None:
            beat.ok()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STANDBY)
    return False


@dataclass
class Offset:
    """The next update_id to ask for; kept across restarts of the poller."""

    value: int | None = None


async def poll(telegram: Telegram, stop: asyncio.Event, beat: Beat, offset: Offset) -> None:
    """Polling mode: long-poll getUpdates and queue what comes; any error ends the loop and
    the supervisor starts it again. (Updates are recorded by id, so a repeat is harmless.)"""
    app = telegram.application
    if not await _identified(telegram, stop):
        return
    while not stop.is_set():
        if not await _lead_updates(telegram, stop, beat):
            return
        # The raw answer, not Bot.get_updates: that parses the whole batch at once, and one
        # malformed update would then fail every poll, forever.
        got = await app.bot._post(
            "getUpdates",
            {"offset": offset.value, "timeout": POLL_SECONDS, "allowed_updates": UPDATES},
            read_timeout=POLL_SECONDS + 60,
        )
        beat.ok()
        for raw in got:
            offset.value = int(raw["update_id"]) + 1
            fast = fast_press(app, raw)
            if fast is not None:  # concurrent, within the same bound as the library's updates
                app.create_task(app.update_processor.process_update(raw, fast))
                continue
            try:
                update = Update.de_json(raw, app.bot)
            except Exception as exc:
                logger.exception("update %s could not be read; kept as failed", raw["update_id"])
                db, bot = app.bot_data["db"], app.bot_data["bot"]
                await updates.store(db, raw, bot)
                error = describe(exc, app.bot.token)
                await updates.mark_failed(db, int(raw["update_id"]), error, bot)
                continue
            app.bot_data["raw_updates"].keep(raw)
            await app.update_queue.put(update)


async def _identify(telegram: Telegram, db: Database) -> None:
    bot, lane = telegram.application.bot, telegram.lane.bot
    await identity.expect_bot(db, int(bot.token.split(":", 1)[0]), lane)
    me = await bot.get_me()
    if not me.username:
        raise RuntimeError("getMe answered without a username")
    # Links work before updates flow.
    await identity.record_identity(db, me.id, me.username, lane)
    telegram.identified.set()
    logger.info("the bot %s is @%s", telegram.lane.name, me.username)


async def _register_commands(telegram: Telegram, db: Database) -> None:
    for language, commands in COMMANDS.items():
        await telegram.application.bot.set_my_commands(
            [BotCommand(c, d) for c, d in commands], language_code=language
        )
    await identity.record_step(db, "commands", bot=telegram.lane.bot)


async def _set_up_updates(
    telegram: Telegram, db: Database, webhook: tuple[str, str] | None
) -> None:
    bot = telegram.application.bot
    if webhook is not None:
        await bot.set_webhook(webhook[0], secret_token=webhook[1], allowed_updates=UPDATES)
    else:
        await bot.delete_webhook()
    mode = "webhook" if webhook else "polling"
    await identity.record_step(db, "webhook", mode=mode, bot=telegram.lane.bot)


def _set_up(
    telegram: Telegram,
    supervisor: Supervisor,
    stop: asyncio.Event,
    webhook: tuple[str, str] | None,
) -> list[asyncio.Task[None]]:
    """The set-up jobs, each retried until Telegram answers; failures land in bot_state."""
    db: Database = telegram.application.bot_data["db"]
    token = telegram.application.bot.token
    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "bot.identity": lambda: _identify(telegram, db),
        "bot.updates": lambda: _set_up_updates(telegram, db, webhook),
        "bot.commands": lambda: _register_commands(telegram, db),
    }

    def job(name: str, step: Callable[[], Awaitable[None]]) -> Callable[[Beat], Awaitable[None]]:
        async def attempt(_: Beat) -> None:
            try:
                await step()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    error = f"{name}: {describe(exc, token)}"
                    await identity.record_error(db, error, telegram.lane.bot)
                raise

        return attempt

    lane = telegram.lane
    return [supervisor.start(lane.job(n), job(n, s), stop, job=True) for n, s in steps.items()]


@contextlib.asynccontextmanager
async def running(
    telegram: Telegram,
    *,
    webhook: tuple[str, str] | None = None,
    supervisor: Supervisor | None = None,
) -> AsyncIterator[Telegram]:
    """The bot and the sender until the block ends. The bot polls, or with `webhook`
    (url, secret) registers it and handles the inbox the web route fills."""
    app = telegram.application
    db: Database = app.bot_data["db"]
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        if supervisor is None:
            supervisor = await stack.enter_async_context(recording(db))
        await stack.enter_async_context(app)  # opens HTTP sessions; asks Telegram nothing
        await app.start()
        tasks = _set_up(telegram, supervisor, stop, webhook)
        lane = telegram.lane
        tasks.append(supervisor.start(lane.job("sender"), _sending(telegram.sender, stop), stop))
        if webhook is not None:
            inbox = lane.job("inbox")
            tasks.append(supervisor.start(inbox, lambda b: handle_inbox(telegram, stop, b), stop))
        else:
            offset = Offset()
            poller = lane.job("poller")
            tasks.append(supervisor.start(poller, lambda b: poll(telegram, stop, b, offset), stop))
        try:
            yield telegram
        finally:
            stop.set()
            telegram.sender.wake.set()
            for task in tasks:  # a long poll or a set-up call in flight ends now
                if task.get_name() in (lane.job("poller"), *(lane.job(j) for j in SET_UP)):
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.stop()  # handles what is queued first
            if webhook is None and telegram.updates_leader.leading:
                await _confirm(telegram, offset)
            await telegram.updates_leader.step_down()


async def _confirm(telegram: Telegram, offset: Offset) -> None:
    """Tell Telegram which updates were handled, so a restart is not sent them again."""
    if offset.value is None:
        return
    with contextlib.suppress(Exception):  # shutting down: a failure only means repeats later
        await telegram.application.bot._post(
            "getUpdates",
            {"offset": offset.value, "timeout": 0, "allowed_updates": UPDATES},
            read_timeout=5,
        )


SET_UP = ("bot.identity", "bot.updates", "bot.commands")


def _sending(sender: Sender, stop: asyncio.Event) -> Callable[[Beat], Awaitable[None]]:
    async def loop(beat: Beat) -> None:
        sender.heartbeat = beat.ok
        await sender.run(stop)

    return loop
