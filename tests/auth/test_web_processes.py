"""Two `coordinator web` processes on one database behave as one, over real HTTP: a session
made on one is known to the other, failures on one slow down the other, a sign-out, a password
reset, a role change, a deactivation or an ended session on one holds on both.

Process A runs with `--workers 2` and trusts 127.0.0.1 as a proxy; process B trusts no one."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from coordinator.auth.models import AuditEvent
from coordinator.db import Database
from coordinator.sandbox.run import free_port
from tests import dbtools
from tests.auth.test_web_security import record_failures
from tests.conftest import BACKEND
from tests.factories import PASSWORD, build_world


@dataclass
class Deployment:
    database_url: str
    a: str
    b: str
    user_id: dict[str, int]


def _start(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen[str]:
    # A file, not a pipe: nobody reads a pipe while the test runs, and a full one would stall
    # the server on its own request log.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "web", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def _output(process: subprocess.Popen[str]) -> str:
    log = process.log  # type: ignore[attr-defined]
    log.seek(0)
    return str(log.read())


def _wait_until_up(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web process stopped: {_output(process)}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the web process did not come up in time")


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


async def _world(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        return dict((await build_world(db)).user_id)
    finally:
        await db.dispose()


def _db_call(url: str, work: Any) -> Any:
    async def run() -> Any:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("two-webs")
    if BACKEND == "sqlite":
        url = f"sqlite+aiosqlite:///{home}/web.db"
    else:
        base = os.environ["COORDINATOR_TEST_POSTGRES_URL"]
        url = asyncio.run(dbtools.create_pg_database(base, f"coord_web_{uuid.uuid4().hex[:10]}"))
    dbtools.upgrade(url)
    user_id = asyncio.run(_world(url))
    env = {**os.environ, "COORDINATOR_DATABASE_URL": url, "COORDINATOR_VAR_DIR": str(home)}
    port_a, port_b = free_port(), free_port()
    a = _start({**env, "COORDINATOR_TRUSTED_PROXIES": "127.0.0.1"}, port_a, "--workers", "2")
    b = _start(env, port_b)
    try:
        for process, port in ((a, port_a), (b, port_b)):
            _wait_until_up(f"http://127.0.0.1:{port}", process)
        yield Deployment(url, f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}", user_id)
    finally:
        _stop(a)
        _stop(b)
        if BACKEND == "postgres":
            asyncio.run(dbtools.drop_pg_database(url))


def browser(agent: str = "pytest-browser") -> httpx.Client:
    """One cookie jar for both processes (cookies are per host, not per port)."""
    return httpx.Client(headers={"user-agent": agent}, timeout=30, follow_redirects=False)


def csrf(client: httpx.Client, base: str) -> str:
    if "coordinator_csrf" not in client.cookies:
        client.get(base + "/signin")
    return client.cookies["coordinator_csrf"]


def sign_in(
    client: httpx.Client,
    base: str,
    username: str,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(
        base + "/signin",
        data={"username": username, "password": password, "_csrf_token": csrf(client, base)},
        headers=headers,
    )


def post(client: httpx.Client, base: str, path: str, **data: str) -> httpx.Response:
    return client.post(base + path, data={**data, "_csrf_token": csrf(client, base)})


def signed_in(client: httpx.Client, base: str) -> bool:
    response = client.get(base + "/campaigns")
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def test_a_session_made_on_one_process_is_known_and_signed_out_on_the_other(deployment):
    d = deployment
    with browser() as client:
        assert sign_in(client, d.a, "coordinator").status_code == 303
        assert signed_in(client, d.b)
        session_id = client.cookies["coordinator_session"]
        assert post(client, d.b, "/signout").status_code == 303
    with browser() as replay:  # the signed-out id, replayed on the other process
        replay.cookies.set("coordinator_session", session_id)
        assert not signed_in(replay, d.a)


def test_failures_on_one_process_count_on_the_other_and_forwarded_for_from_strangers_is_ignored(
    deployment,
):
    d = deployment
    with browser() as client:
        for _ in range(5):
            wrong = sign_in(client, d.a, "leadership", "not the password")
            assert wrong.status_code == 200 and "Sai tên đăng nhập" in wrong.text
        # 7 more failures from the same address: 12 in all, 2^7 s; the 7 alone would be 4 s.
        _db_call(d.database_url, lambda db: record_failures(db, "leadership", "127.0.0.1", 7))
        held = sign_in(client, d.b, "leadership")
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 60
        assert "Thử quá nhiều lần" in held.text
        # B trusts no proxy: a made-up X-Forwarded-For changes nothing there.
        spoofed = sign_in(client, d.b, "leadership", headers={"x-forwarded-for": "203.0.113.50"})
        assert spoofed.status_code == 429
        # A trusts 127.0.0.1 as its proxy: this is the real user at another address.
        elsewhere = sign_in(client, d.a, "leadership", headers={"x-forwarded-for": "203.0.113.50"})
        assert elsewhere.status_code == 303
        assert signed_in(client, d.b)


def test_an_admins_password_reset_ends_the_users_sessions_on_every_process(deployment):
    d = deployment
    with browser() as user, browser() as admin:
        assert sign_in(user, d.a, "lead").status_code == 303
        assert sign_in(admin, d.b, "admin").status_code == 303
        reset = post(
            admin, d.b, f"/users/{d.user_id['lead']}/password", password="a new password 1"
        )
        assert reset.status_code == 303
        assert not signed_in(user, d.a)
        assert sign_in(user, d.a, "lead", "a new password 1").status_code == 303
        assert signed_in(admin, d.a)  # the admin's own session is untouched


def test_a_role_change_an_admins_sign_out_or_deactivation_ends_the_users_sessions(deployment):
    d = deployment
    who = d.user_id["outsider_coordinator"]
    with browser() as user, browser() as admin:
        assert sign_in(admin, d.b, "admin").status_code == 303
        assert sign_in(user, d.a, "outsider-coordinator").status_code == 303
        assert post(admin, d.b, f"/users/{who}/role", role="lead").status_code == 303
        assert not signed_in(user, d.a)
        assert sign_in(user, d.a, "outsider-coordinator").status_code == 303
        assert post(admin, d.b, f"/users/{who}/sessions/end").status_code == 303
        assert not signed_in(user, d.a)
        assert sign_in(user, d.a, "outsider-coordinator").status_code == 303
        assert post(admin, d.b, f"/users/{who}/active", active="0").status_code == 303
        assert not signed_in(user, d.a)
        assert sign_in(user, d.a, "outsider-coordinator").status_code == 200  # refused


def test_users_see_their_sessions_and_end_them(deployment):
    d = deployment
    phone_agent = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile"
    with browser(phone_agent) as phone, browser("Desk-Browser/2.0") as desk:
        assert sign_in(phone, d.a, "outsider-lead").status_code == 303
        assert sign_in(desk, d.b, "outsider-lead").status_code == 303
        page = desk.get(d.b + "/account").text
        assert "Chrome · Android" in page and "Desk-Browser/2.0" in page
        assert "127.0.0.1" in page and "trình duyệt này" in page
        # The only End button on the desk's page is the phone's (its own row has none).
        (phone_row,) = re.findall(r"/account/sessions/(\d+)/end", page)
        assert post(desk, d.b, f"/account/sessions/{phone_row}/end").status_code == 303
        assert not signed_in(phone, d.a) and signed_in(desk, d.a)
        assert sign_in(phone, d.a, "outsider-lead").status_code == 303
        assert post(desk, d.b, "/account/sessions/end-others").status_code == 303
        assert not signed_in(phone, d.b) and signed_in(desk, d.b)
        assert sign_in(phone, d.a, "outsider-lead").status_code == 303
        changed = post(desk, d.a, "/account/password", current=PASSWORD, new="another secret 42")
        assert changed.status_code == 303
        assert not signed_in(phone, d.b) and signed_in(desk, d.b)

    async def audited(db: Database) -> list[str]:
        async with db.read() as session:
            rows = await session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.object_type.in_(["user", "web_session"]),  # type: ignore[attr-defined]
                    col(AuditEvent.action).like("session.%")
                    | col(AuditEvent.action).like("user.password%"),
                )
            )
            return list(rows.all())

    actions = _db_call(d.database_url, audited)
    assert {"session.end", "session.end_others", "user.password_change"} <= set(actions)


def test_an_unknown_host_name_gets_400(deployment):
    d = deployment
    port = d.b.rsplit(":", 1)[1]
    assert httpx.get(d.b + "/signin", headers={"host": "evil.example"}).status_code == 400
    assert httpx.get(d.b + "/signin", headers={"host": f"localhost:{port}"}).status_code == 200


def test_sign_out_is_audited(deployment):
    d = deployment
    with browser() as client:
        assert sign_in(client, d.a, "coordinator").status_code == 303
        assert post(client, d.a, "/signout").status_code == 303

    async def signouts(db: Database) -> list[int | None]:
        async with db.read() as session:
            rows = await session.scalars(
                select(AuditEvent.actor_user_id).where(AuditEvent.action == "signout")
            )
            return list(rows.all())

    assert d.user_id["coordinator"] in _db_call(d.database_url, signouts)
