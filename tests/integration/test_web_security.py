"""Browser-facing security: CSRF, session rotation, cookie flags, headers, sign-in throttling."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from coordinator.app import create_app
from coordinator.settings import read_settings
from coordinator.web.security import Throttle
from tests.factories import PASSWORD, build_world
from tests.integration.test_web_authorization import sign_in


def _app(db_url: str, **extra: str) -> Any:
    return create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": db_url, **extra}))


async def test_unsafe_requests_need_the_csrf_token(db):
    await build_world(db)
    async with AsyncTestClient(app=_app(db.url)) as client:
        await sign_in(client, "admin")
        forged = await client.post("/tokens", data={"name": "x"}, follow_redirects=False)
        assert forged.status_code == 403
        token = client.cookies["coordinator_csrf"]
        ok = await client.post("/tokens", data={"name": "x"}, headers={"x-csrftoken": token})
        assert ok.status_code == 200 and "coord_" in ok.text


async def test_sign_in_rotates_the_session_id_and_sets_safe_cookie_flags(db):
    await build_world(db)
    async with AsyncTestClient(app=_app(db.url)) as client:
        await client.get("/signin")
        await client.post(
            "/language",
            data={"lang": "en", "_csrf_token": client.cookies["coordinator_csrf"]},
            follow_redirects=False,
        )
        planted = client.cookies["coordinator_session"]
        response = await client.post(
            "/signin",
            data={
                "username": "lead",
                "password": PASSWORD,
                "_csrf_token": client.cookies["coordinator_csrf"],
            },
            follow_redirects=False,
        )
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        assert client.cookies["coordinator_session"] != planted
        client.cookies.set("coordinator_session", planted)  # the old id is worthless now
        assert (await client.get("/members", follow_redirects=False)).status_code == 303


async def test_cookies_are_secure_behind_https(db):
    await build_world(db)
    app = _app(db.url, COORDINATOR_PUBLIC_URL="https://coordinator.example.vn")
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        response = await client.get("/signin")
        assert all("Secure" in c for c in response.headers.get_list("set-cookie"))


async def test_every_response_carries_the_security_headers(db):
    async with AsyncTestClient(app=_app(db.url)) as client:
        for path in ("/signin", "/static/app.css", "/nowhere", "/api/v1/me"):
            headers = (await client.get(path)).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"


async def test_wrong_passwords_are_throttled_per_account(db):
    await build_world(db)
    async with AsyncTestClient(app=_app(db.url)) as client:
        await client.get("/signin")
        texts = []
        for _ in range(6):
            response = await client.post(
                "/signin",
                data={
                    "username": "outsider-lead",
                    "password": "not the password",
                    "_csrf_token": client.cookies["coordinator_csrf"],
                },
            )
            texts.append(response.text)
        assert "Sai tên đăng nhập hoặc mật khẩu" in texts[4]
        assert "Thử quá nhiều lần" in texts[5]


def test_the_throttle_window_slides():
    throttle = Throttle(limit=2, window=60)
    throttle.failed("k", now=0)
    throttle.failed("k", now=10)
    assert throttle.retry_after("k", now=20) == 40
    assert throttle.retry_after("k", now=61) == 0
