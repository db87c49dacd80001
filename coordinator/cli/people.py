"""Organizations, users, API tokens, demo data and the tally recount."""

from __future__ import annotations

import sys
from typing import Any

import click

from coordinator.cli import main
from coordinator.cli.common import fail, friendly, run, with_db


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
        with_db(lambda db: create_organization(db, None, name=name, kind=kind, parent_id=parent_id))
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
        with_db(
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
            fail(f"no user named {username!r}")
        return await create_token(db, None, user_id, name)

    click.echo(run(with_db(work)))


@main.command()
@click.option("--members", default=2000, show_default=True, type=click.IntRange(10, 200_000))
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has data already.")
@click.option("--seed", default=2026, show_default=True, type=int)
@friendly
def demo(members: int, if_empty: bool, seed: int) -> None:
    """Load a demo province: organizations, clubs, members, agreements, channels, campaigns."""
    from coordinator.demo import load_demo

    summary = run(
        with_db(
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

    report = run(with_db(recount_summary))
    for line in report.lines:
        click.echo(f"drift repaired: {line}")
    click.echo(f"{len(report.lines)} summary lines drifted" if report.drifted else "no drift")
    if report.drifted:
        sys.exit(1)
