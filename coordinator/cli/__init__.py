"""The `coordinator` command: serve, web, worker, database migrations, users, tokens, demo.

Each group of commands has its module; importing them registers them on `main`. Every command
imports what it needs inside itself, so `coordinator --help` starts fast."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Coordinator: campaigns for youth-union volunteers, delivered through Telegram.

    Settings come from COORDINATOR_* environment variables (see the README).
    """


from coordinator.cli import database, people, processes  # noqa: E402  (they register commands)

__all__ = ["database", "main", "people", "processes"]
