"""Two PostgreSQL roles: the owner migrates, the application role may only use the data.

The owner role (COORDINATOR_MIGRATION_DATABASE_URL) owns every table and runs Alembic. The
application role (the user in COORDINATOR_DATABASE_URL) gets plain data rights on every table
except the audit log, where it may only INSERT and SELECT. Not owning the tables, it can
neither TRUNCATE nor ALTER them, so it cannot disable the append-only trigger either.
Grants are re-applied after every upgrade, so a new table is never left out.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

APPEND_ONLY = ("audit_event",)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def role_of(url: str) -> str | None:
    """The PostgreSQL user a URL connects as (None for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return parsed.username


def separate_app_role(app_url: str, migration_url: str) -> str | None:
    """The application role to grant to, if the app connects as someone else than the owner."""
    app, owner = role_of(app_url), role_of(migration_url)
    if app is None or owner is None or app == owner:
        return None
    return app


def _quoted(role: str) -> str:
    if not _ROLE_NAME.fullmatch(role):
        raise ValueError(f"unusual role name {role!r}: use lowercase letters, digits and _")
    return f'"{role}"'


def grant_statements(role: str, schema: str = "public") -> list[str]:
    """The grants that give `role` the application's rights and nothing more."""
    who = _quoted(role)
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {schema} FROM {who}",
    ]
    for table in APPEND_ONLY:
        statements.append(f"REVOKE UPDATE, DELETE ON {schema}.{table} FROM {who}")
    return statements


async def grant_app_role(connection: AsyncConnection, role: str) -> None:
    """Apply the grants as the owner; idempotent."""
    for statement in grant_statements(role):
        await connection.execute(text(statement))
