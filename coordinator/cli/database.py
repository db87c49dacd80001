"""The database: migrations, copying into PostgreSQL, backups and restores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from coordinator.cli import main
from coordinator.cli.common import ROOT, fail, friendly, run


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
        fail(str(exc))
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
        fail(str(exc))
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
        fail(str(exc))
    _grant_app_role()
    click.echo(f"Restored from {source}. Run `coordinator db upgrade` if it is an older backup.")
