"""The long-running processes: serve (all in one), web, worker, the sandbox Bot API."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

import click

from coordinator.cli import main
from coordinator.cli.common import BOT_USERNAME, friendly, valid_bot_username
from coordinator.sandbox.state import DEFAULT_BOT_USERNAME


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--sandbox-port",
    default=8081,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Where the built-in Bot API sandbox listens when no bot token is set.",
)
@BOT_USERNAME
@friendly
def serve(host: str, port: int, sandbox_port: int, sandbox_bot_username: str) -> None:
    """Run everything in one process: web UI + JSON API, the Telegram bot and the sender.

    Without COORDINATOR_TELEGRAM_TOKEN the bot talks to a built-in Bot API sandbox.

    The sandbox runs the default bot only: COORDINATOR_TELEGRAM_BOTS needs
    COORDINATOR_TELEGRAM_TOKEN (the default bot), and with a token set serve talks to Telegram
    (or COORDINATOR_TELEGRAM_API_URL). The sandbox is one emulated Telegram with one bot and
    the volunteer simulator shows that one; chats are per bot, so several bots would need a
    sandbox and a simulator per bot. tests/bots/test_several_bots.py and bench/bots.py run
    several bots, each against a sandbox of its own. Admins see every bot and whether its
    lanes run on the /bots page.
    """
    from coordinator.serve import run as run_all
    from coordinator.settings import get_settings

    settings = get_settings()
    click.echo(f"Coordinator on http://{host}:{port}/  (database: {settings.database_url})")
    _until_stopped(
        run_all(
            settings,
            web=(host, port),
            sandbox_port=sandbox_port,
            sandbox_username=sandbox_bot_username,
        )
    )


@main.command()
@click.option("--sandbox-port", default=8081, show_default=True, type=click.IntRange(1, 65535))
@BOT_USERNAME
@friendly
def worker(sandbox_port: int, sandbox_bot_username: str) -> None:
    """Run the Telegram bot and the outbox sender without the web (scale-out deployments)."""
    from coordinator.serve import run as run_all
    from coordinator.settings import get_settings

    _until_stopped(
        run_all(
            get_settings(),
            web=None,
            sandbox_port=sandbox_port,
            sandbox_username=sandbox_bot_username,
        )
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web processes sharing the port; sessions and sign-in throttles live in the database.",
)
@friendly
def web(host: str, port: int, workers: int) -> None:
    """Run the web UI and JSON API alone (scale-out: the bot and sender run in `worker`).

    Any number of these, on one machine or many behind a load balancer, serve any user.
    """
    import uvicorn

    from coordinator.settings import get_settings

    get_settings()  # bad settings fail here, and a generated secret key exists before the forks
    click.echo(f"Coordinator web on http://{host}:{port}/  ({workers} worker(s))")
    uvicorn.run(
        "coordinator.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # X-Forwarded-* are believed only from COORDINATOR_TRUSTED_PROXIES, by the app itself.
        proxy_headers=False,
        log_level="info",
        # Longer than the proxy keeps idle upstream connections (deploy/caddy: 60 s), so the
        # proxy, not the app, closes them and never reuses one the app is closing.
        timeout_keep_alive=75,
    )


def _until_stopped(main_loop: Coroutine[Any, Any, None]) -> None:
    """Run until done or stopped: Ctrl+C and SIGTERM both end it cleanly, with status 0."""
    # SIGTERM takes Ctrl+C's path: asyncio.run then cancels only the main task, which stops its
    # loops in order. Raising KeyboardInterrupt at once (default_int_handler) made asyncio
    # cancel every task together, and `worker` died mid-cleanup ("Application is still running").
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        asyncio.run(main_loop)
    except KeyboardInterrupt:
        click.echo("Stopped.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=click.IntRange(1, 65535))
@click.option("--token", default="1000:sandbox", show_default=True, help="The token it accepts.")
@click.option(
    "--bot-username",
    default=DEFAULT_BOT_USERNAME,
    show_default=True,
    callback=lambda _c, _p, value: valid_bot_username(value),
    help="The name its bot answers getMe with.",
)
@friendly
def sandbox(host: str, port: int, token: str, bot_username: str) -> None:
    """Run the Telegram Bot API sandbox (an emulator for tests, demos and training).

    Point a bot at it with COORDINATOR_TELEGRAM_API_URL=http://HOST:PORT/bot and
    COORDINATOR_TELEGRAM_TOKEN=TOKEN. The user side is documented in
    coordinator/sandbox/server.py (create users and groups, send messages, press buttons).
    """
    import uvicorn

    from coordinator.sandbox.run import SANDBOX_KEEP_ALIVE
    from coordinator.sandbox.server import Sandbox
    from coordinator.sandbox.state import World

    click.echo(f"Bot API sandbox on http://{host}:{port}/bot{token}/getMe")
    # Long polls would otherwise hold a shutdown for their whole timeout.
    uvicorn.run(
        Sandbox(World(token, username=bot_username)),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=SANDBOX_KEEP_ALIVE,
    )
