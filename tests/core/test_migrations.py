"""Models and migrations agree, and the migrations run both ways on this test's database."""

import asyncio
import os
import uuid
import warnings
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import SAWarning

from coordinator.db import create_engine
from coordinator.models import metadata
from tests import dbtools
from tests.conftest import BACKEND


def _fresh_url(tmp_path: Path) -> str:
    if BACKEND == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    base = os.environ["COORDINATOR_TEST_POSTGRES_URL"]
    return asyncio.run(dbtools.create_pg_database(base, f"coord_mig_{uuid.uuid4().hex[:10]}"))


def _inspect(url: str, work):
    async def run():
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_it_has_no_difference_between_models_and_migrations(tmp_path):
    url = _fresh_url(tmp_path)
    try:
        dbtools.upgrade(url)
        with warnings.catch_warnings():
            # SQLite cannot reflect the expression index; the next test checks it exists.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
            diff = _inspect(
                url, lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
        assert diff == []
    finally:
        if BACKEND == "postgres":
            asyncio.run(dbtools.drop_pg_database(url))


def test_it_upgrades_downgrades_and_upgrades_again(tmp_path):
    url = _fresh_url(tmp_path)
    try:
        dbtools.upgrade(url)
        tables = _inspect(url, lambda c: set(inspect(c).get_table_names()))
        assert set(metadata.tables) <= tables
        dbtools.downgrade(url, "base")
        assert _inspect(url, lambda c: set(inspect(c).get_table_names())) <= {"alembic_version"}
        dbtools.upgrade(url)
        query = (
            "SELECT name FROM sqlite_master WHERE type = 'index'"
            if BACKEND == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE tablename = 'report'"
        )
        indexes = _inspect(url, lambda c: set(c.exec_driver_sql(query).scalars()))
        assert "uq_report_once" in indexes
    finally:
        if BACKEND == "postgres":
            asyncio.run(dbtools.drop_pg_database(url))


FIRST_ROWS = [
    "INSERT INTO organization (id, name, kind, created_at) VALUES (1, 'Tỉnh', 'province', :now)",
    "INSERT INTO agreement (id, title, lead_organization_id, signed_on, valid_from, valid_until, "
    "created_at) VALUES (1, 'Quy chế', 1, '2026-01-01', '2026-01-01', '2027-01-01', :now)",
    "INSERT INTO campaign (id, agreement_id, title, brief, status, launch_at, deadline_at, "
    "delivery_mode, proof_requested, created_at) VALUES (1, 1, 'C', '', 'active', :now, :now, "
    "'dm', false, :now)",
    "INSERT INTO member (id, organization_id, display_name, locale, created_at) "
    "VALUES (1, 1, 'An', 'vi', :now)",
    "INSERT INTO assignment (campaign_id, member_id, status, created_at) "
    "VALUES (1, 1, 'done', :now)",
]


def test_every_revision_upgrades_a_database_that_holds_data(tmp_path):
    """Rows referencing the tables a revision changes must survive it (foreign keys on)."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    url = _fresh_url(tmp_path)
    try:
        dbtools.upgrade(url, "0001")

        def fill(conn):
            for statement in FIRST_ROWS:
                conn.execute(text(statement), {"now": datetime(2026, 11, 1, tzinfo=UTC)})
            conn.commit()

        _inspect(url, fill)
        dbtools.upgrade(url)
        hours = _inspect(
            url, lambda c: c.execute(text("SELECT reminder_hours FROM campaign")).scalar()
        )
        assert hours in ([24, 2], "[24, 2]")
        dbtools.downgrade(url, "0001")
        dbtools.upgrade(url)
        assert (
            _inspect(url, lambda c: c.execute(text("SELECT count(*) FROM assignment")).scalar())
            == 1
        )
    finally:
        if BACKEND == "postgres":
            asyncio.run(dbtools.drop_pg_database(url))
