"""The processes: `serve` (web + bot + sender + scheduler) and `worker` (bot + sender +
scheduler), one event loop each.

With no COORDINATOR_TELEGRAM_TOKEN the Bot API sandbox runs in-process and the bot talks to it,
so a fresh install shows the whole flow without a real bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn
from sqlmodel import col, select

from coordinator import heap, scheduler
from coordinator.auth.models import User
from coordinator.bots import identity, runtime
from coordinator.bots.sender import Lane
from coordinator.db import Database
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.logs import quiet_libraries
from coordinator.organizations.models import GroupChat, Member
from coordinator.sandbox.run import running_sandbox
from coordinator.sandbox.state import DEFAULT_BOT_USERNAME, World
from coordinator.settings import Settings
from coordinator.supervisor import Supervisor, recording

logger = logging.getLogger("coordinator")
SANDBOX_TOKEN = "1000:sandbox"


async def _sandbox_world(db: Database, username: str) -> World:
    """A sandbox that already knows the linked members, the users linked to their own Telegram
    (leads, focal points: without them their digests and organization tasks would find no
    chat after a restart) and the registered groups."""
    world = World(SANDBOX_TOKEN, username=username)
    async with db.read() as session:
        members = (
            await session.execute(
                select(Member.telegram_user_id, Member.display_name, Member.locale).where(
                    col(Member.telegram_user_id).is_not(None)
                )
            )
        ).all()
        users = (
            await session.execute(
                select(User.telegram_user_id, User.username, User.locale).where(
                    col(User.telegram_user_id).is_not(None)
                )
            )
        ).all()
        groups = (await session.execute(select(GroupChat.telegram_chat_id, GroupChat.title))).all()
    for telegram_id, name, locale in [*users, *members]:
        world.add_known_person(int(telegram_id), name, locale)
    for chat_id, title in groups:
        world.add_known_group(int(chat_id), title)
    return world


async def _run_bots(
    stack: contextlib.AsyncExitStack,
    db: Database,
    settings: Settings,
    supervisor: Supervisor,
    token: str,
    base_url: str | None,
) -> None:
    """One lane per bot, each with its own sender, update reader and set-up jobs: the default
    bot, then every bot of COORDINATOR_TELEGRAM_BOTS (registered in `bot` first)."""
    ids = await identity.sync_bots(db, settings.telegram_bots)
    lanes = [(token, Lane())] + [
        (bot.token, Lane(ids[bot.name], bot.name)) for bot in settings.telegram_bots
    ]
    for lane_token, lane in lanes:
        telegram = runtime.build(db, settings, lane_token, base_url, lane)
        webhook = None
        if settings.telegram_mode == "webhook":
            url = settings.webhook_url or ""
            if lane.bot != DEFAULT_BOT:  # the route names the bot: /telegram/webhook/<name>
                url = f"{url.rstrip('/')}/{lane.name}"
            webhook = (url, settings.webhook_secret or "")
        await stack.enter_async_context(
            runtime.running(telegram, webhook=webhook, supervisor=supervisor)
        )


async def run(
    settings: Settings,
    *,
    web: tuple[str, int] | None,
    sandbox_port: int,
    sandbox_username: str = DEFAULT_BOT_USERNAME,
) -> None:
    quiet_libraries()
    db = Database(settings.database_url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        supervisor = await stack.enter_async_context(recording(db))
        token, base_url = settings.telegram_token, settings.telegram_api_url
        sandbox_url = None
        if token is None:
            sandbox = await stack.enter_async_context(
                running_sandbox(await _sandbox_world(db, sandbox_username), port=sandbox_port)
            )
            token, base_url, sandbox_url = SANDBOX_TOKEN, sandbox.base_url, sandbox.url
            print(f"No COORDINATOR_TELEGRAM_TOKEN: Bot API sandbox at {sandbox.url}", flush=True)
        await _run_bots(stack, db, settings, supervisor, token, base_url)
        await stack.enter_async_context(scheduler.running(db, settings, supervisor))
        if web is not None:
            from coordinator.app import create_app

            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(settings, sandbox_url=sandbox_url),
                    host=web[0],
                    port=web[1],
                    log_level="info",
                    proxy_headers=False,  # the app decides whom to believe (TRUSTED_PROXIES)
                )
            )
            heap.settle()
            await server.serve()  # returns on SIGINT/SIGTERM
            return
        heap.settle()
        print("Worker running: bot and sender. Stop with Ctrl+C.", flush=True)
        await asyncio.Event().wait()  # until Ctrl+C or SIGTERM cancels the run
