"""The `coordinator` command: serve, web, worker, database migrations, users, tokens, demo."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from coordinator.errors import DomainError
from coordinator.sandbox.state import DEFAULT_BOT_USERNAME
from coordinator.settings import SettingsError

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


BOT_USERNAME = click.option(
    "--sandbox-bot-username",
    default=DEFAULT_BOT_USERNAME,
    show_default=True,
    callback=lambda _c, _p, value: _bot_username(value),
    help="The name the built-in sandbox's bot answers getMe with (links use it).",
)


def _bot_username(value: str) -> str:
    """Telegram's rule for bot names: 5-32 of A-Z a-z 0-9 _, ending in 'bot'."""
    import re

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]", value):
        raise click.BadParameter("5-32 letters, digits or _, starting with a letter, ending in bot")
    return value


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def friendly(func: Callable[..., T]) -> Callable[..., T]:
    """Turn rule violations and bad settings into one clear line and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            _fail(str(exc))
        except DomainError as exc:
            details = "".join(
                f"\n  - {e.get('field') or e.get('line')}: {e['message']}" for e in exc.errors[:20]
            )
            if len(exc.errors) > 20:
                details += f"\n  ... and {len(exc.errors) - 20} more"
            _fail(f"{exc.detail}{details}")
        raise AssertionError("unreachable")

    return wrapper


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_db(work: Callable[[Any], Awaitable[T]]) -> T:
    from coordinator.db import Database
    from coordinator.settings import get_settings

    db = Database(get_settings().database_url)
    try:
        return await work(db)
    finally:
        await db.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Coordinator: campaigns for youth-union volunteers, delivered through Telegram.

    Settings come from COORDINATOR_* environment variables (see the README).
    """


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
    callback=lambda _c, _p, value: _bot_username(value),
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
    )


def _alembic(url: str | None = None) -> Any:
    from alembic.config import Config

    from coordinator.settings import get_settings

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url or get_settings().database_url
    return config


@main.group()
def db() -> None:
    """Database migrations (Alembic)."""


@db.command()
@click.argument("revision", default="head")
@friendly
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: head), as the owner role.

    With COORDINATOR_MIGRATION_DATABASE_URL set (the owner) and the application connecting as
    another role, that role then gets its grants: data rights, and only INSERT and SELECT on
    the audit log.
    """
    from alembic import command

    command.upgrade(_alembic(_owner_url()), revision)
    _grant_app_role()


def _owner_url() -> str:
    from coordinator.settings import get_settings

    settings = get_settings()
    return settings.migration_database_url or settings.database_url


def _grant_app_role() -> None:
    from coordinator import dbroles
    from coordinator.db import create_engine
    from coordinator.settings import get_settings

    role = dbroles.separate_app_role(get_settings().database_url, _owner_url())
    if role is None:
        return

    async def grant() -> None:
        engine = create_engine(_owner_url())
        try:
            async with engine.begin() as connection:
                await dbroles.grant_app_role(connection, role)
        finally:
            await engine.dispose()

    run(grant())
    click.echo(f"Granted the application role {role} its rights (audit log: insert and read).")


@db.command()
@click.argument("revision", default="-1")
@friendly
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (default: one step back; 'base' empties it)."""
    from alembic import command

    command.downgrade(_alembic(_owner_url()), revision)


@db.command()
@friendly
def current() -> None:
    """Show the schema revision the database is at."""
    from alembic import command

    command.current(_alembic(_owner_url()), verbose=False)


@db.command("copy")
@click.option("--to", "target", required=True, help="postgresql+asyncpg://OWNER@HOST/DB, empty.")
@click.option("--from", "source", default=None, help="Default: COORDINATOR_DATABASE_URL.")
@friendly
def db_copy(target: str, source: str | None) -> None:
    """Copy the whole database (audit log included) into an EMPTY PostgreSQL database.

    Migrates the target to the same revision, copies every table in one transaction, then
    checks row counts, a digest of every row and the campaign tallies on both sides; on any
    difference nothing is committed and the exit status is 1. Stop web and workers first.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    from coordinator import dbcopy
    from coordinator.settings import get_settings

    source = source or get_settings().database_url
    head = ScriptDirectory.from_config(_alembic(target)).get_current_head()
    try:
        report = dbcopy.copy_deployment(
            source,
            target,
            str(head),
            lambda url: command.upgrade(_alembic(url), "head"),
            say=click.echo,
        )
    except dbcopy.CopyError as exc:
        _fail(str(exc))
    for line in dbcopy.summary(report):
        click.echo(line)
    if not report.ok:
        click.secho(
            "error: the copy differs from the source; nothing was committed", fg="red", err=True
        )
        sys.exit(1)
    click.echo(f"Copied {report.rows:,} rows in {report.seconds:.1f} s; counts and tallies equal.")


@main.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@friendly
def backup(dest: Path) -> None:
    """Write a consistent backup of the database to DEST (mode 0600).

    SQLite: the online backup API, safe while the product runs. PostgreSQL: pg_dump's custom
    format, as the owner role when COORDINATOR_MIGRATION_DATABASE_URL is set.
    """
    from coordinator.backups import BackupError
    from coordinator.backups import backup as write_backup

    try:
        size = write_backup(_owner_url(), dest)
    except BackupError as exc:
        _fail(str(exc))
    click.echo(f"Backup written to {dest} ({size:,} bytes).")


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: the database is replaced.")
@friendly
def restore(source: Path, yes: bool) -> None:
    """Replace the whole database with the backup in SOURCE. Stop web and workers first."""
    from coordinator.backups import BackupError
    from coordinator.backups import restore as read_backup

    if not yes:
        click.confirm("This replaces every row of the current database. Go on?", abort=True)
    try:
        read_backup(_owner_url(), source)
    except BackupError as exc:
        _fail(str(exc))
    _grant_app_role()
    click.echo(f"Restored from {source}. Run `coordinator db upgrade` if it is an older backup.")


@main.group()
def orgs() -> None:
    """Organizations (the first one is needed before any user)."""


@orgs.command("create")
@click.option("--name", required=True, help="Display name, e.g. 'Tỉnh đoàn Bình Minh'.")
@click.option("--kind", default="province", show_default=True, help="province, district, ...")
@click.option("--parent", "parent_id", type=int, default=None, help="Parent organization id.")
@friendly
def orgs_create(name: str, kind: str, parent_id: int | None) -> None:
    """Create an organization and print its id."""
    from coordinator.organizations.service import create_organization

    org = run(
        _with_db(
            lambda db: create_organization(db, None, name=name, kind=kind, parent_id=parent_id)
        )
    )
    click.echo(f"organization {org.id}: {org.name}")


@main.group()
def users() -> None:
    """Users of the web UI and API."""


@users.command("create")
@click.option("--username", required=True)
@click.option(
    "--role", required=True, type=click.Choice(["admin", "coordinator", "lead", "leadership"])
)
@click.option("--organization", "organization_id", required=True, type=int, help="Organization id.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly
def users_create(username: str, role: str, organization_id: int, password_stdin: bool) -> None:
    """Create a user. The password is prompted for (or read from stdin), never an argument."""
    from coordinator.auth.service import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = run(
        _with_db(
            lambda db: create_user(
                db,
                None,
                username=username,
                password=password,
                role=role,
                organization_id=organization_id,
            )
        )
    )
    click.echo(f"user {user.id}: {user.username} ({user.role})")


@main.group()
def tokens() -> None:
    """Bearer tokens for the JSON API."""


@tokens.command("create")
@click.option("--username", required=True, help="Whose token it is.")
@click.option("--name", required=True, help="What the token is for, e.g. 'reporting script'.")
@friendly
def tokens_create(username: str, name: str) -> None:
    """Create an API token and print it once (only its digest is stored)."""
    from sqlmodel import select

    from coordinator.auth.models import User
    from coordinator.auth.service import create_token

    async def work(db: Any) -> str:
        async with db.read() as session:
            user_id = await session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            _fail(f"no user named {username!r}")
        return await create_token(db, None, user_id, name)

    click.echo(run(_with_db(work)))


@main.command()
@click.option("--members", default=2000, show_default=True, type=click.IntRange(10, 200_000))
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has data already.")
@click.option("--seed", default=2026, show_default=True, type=int)
@friendly
def demo(members: int, if_empty: bool, seed: int) -> None:
    """Load a demo province: organizations, clubs, members, agreements, channels, campaigns."""
    from coordinator.demo import load_demo

    summary = run(
        _with_db(
            lambda db: load_demo(db, members=members, if_empty=if_empty, seed=seed, say=click.echo)
        )
    )
    click.echo(summary)


@main.group()
def tallies() -> None:
    """The tally summary that the tallies read."""


@tallies.command("recount")
@friendly
def tallies_recount() -> None:
    """Recount the summary from the raw rows, repair any drift and print it (exit 1 on drift)."""
    from coordinator.tallies.summary import recount_summary

    report = run(_with_db(recount_summary))
    for line in report.lines:
        click.echo(f"drift repaired: {line}")
    click.echo(f"{len(report.lines)} summary lines drifted" if report.drifted else "no drift")
    if report.drifted:
        sys.exit(1)
