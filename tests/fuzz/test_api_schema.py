"""Schemathesis fuzzes the whole JSON API, as an admin, on a real server: no 5xx, ever, and
every answer matches the OpenAPI description (status codes, content types, bodies).

Bounded: COORDINATOR_FUZZ_EXAMPLES examples per operation (default 40), so the run stays within
a few minutes on two cores. One check is left out, positive data acceptance: the schema cannot
say that an agreement id must name an agreement the user may see, or that a deadline must follow
the launch, so schema-valid requests are rightly refused with 404 / 422 problems.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from coordinator.sandbox.run import free_port
from tests import dbtools
from tests.conftest import BACKEND

EXAMPLES = int(os.environ.get("COORDINATOR_FUZZ_EXAMPLES", "40"))


async def _world_and_token(url: str) -> str:
    from coordinator.auth import service as auth
    from coordinator.db import Database
    from tests.factories import build_world

    db = Database(url)
    try:
        world = await build_world(db)
        return await auth.create_token(db, None, world.user_id["admin"], "fuzz")
    finally:
        await db.dispose()


def _database(home: Path) -> str:
    if BACKEND == "sqlite":
        url = f"sqlite+aiosqlite:///{home}/fuzz.db"
    else:
        base = os.environ["COORDINATOR_TEST_POSTGRES_URL"]
        url = asyncio.run(dbtools.create_pg_database(base, f"coord_fuzz_{uuid.uuid4().hex[:10]}"))
    dbtools.upgrade(url)
    return url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base url, admin token) of the app served by uvicorn on loopback, on a populated database."""
    from coordinator.app import create_app
    from coordinator.settings import read_settings

    url = _database(tmp_path_factory.mktemp("fuzz"))
    token = asyncio.run(_world_and_token(url))
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": url}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the fuzzed server did not start"
        time.sleep(0.05)
    try:
        yield base, token
    finally:
        server.should_exit = True
        thread.join(10)
        if BACKEND == "postgres":
            asyncio.run(dbtools.drop_pg_database(url))


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> schemathesis.BaseSchema:
    base, token = served
    openapi = httpx.get(f"{base}/schema/openapi.json", timeout=30).json()
    loaded = schemathesis.openapi.from_dict(openapi)
    loaded.config.update(base_url=base, headers={"Authorization": f"Bearer {token}"})
    return loaded


def _fuzz(operation: schemathesis.APIOperation) -> str | None:
    """Run one operation's examples; the first failure, described, or None."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def examples(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    try:
        examples()
    except (Exception, BaseExceptionGroup) as exc:  # every failure is reported, per operation
        return f"{operation.label}: {exc}"[:3000]
    return None


def test_it_never_answers_with_a_server_error_or_off_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30  # the whole API, not a stray corner of it
    failures = [failure for op in operations if (failure := _fuzz(op))]
    assert not failures, "\n\n".join(failures)
