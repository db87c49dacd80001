"""Browser-facing security: CSRF, session rotation, cookie flags, headers, sign-in throttling."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from coordinator.app import create_app
from coordinator.auth import throttle
from coordinator.auth.models import SignInAttempt
from coordinator.settings import read_settings
from coordinator.web.edge import host_allowed, real_client
from tests.factories import PASSWORD, build_world
from tests.web.test_web_authorization import sign_in


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


async def test_behind_https_cookies_are_host_prefixed_and_secure_and_hsts_is_sent(db):
    await build_world(db)
    app = _app(db.url, COORDINATOR_PUBLIC_URL="https://coordinator.example.vn")
    async with AsyncTestClient(app=app, base_url="https://coordinator.example.vn") as client:
        response = await client.get("/signin")
        cookies = response.headers.get_list("set-cookie")
        assert cookies and all(
            c.startswith("__Host-") and "Secure" in c and "Path=/" in c and "Domain" not in c
            for c in cookies
        )
        hsts = response.headers["strict-transport-security"]
        assert "max-age=31536000" in hsts and "includeSubDomains" in hsts
        signed = await client.post(
            "/signin",
            data={
                "username": "lead",
                "password": PASSWORD,
                "_csrf_token": client.cookies["__Host-coordinator_csrf"],
            },
            follow_redirects=False,
        )
        assert signed.status_code == 303
        assert signed.headers["set-cookie"].startswith("__Host-coordinator_session=")
        assert (await client.get("/members")).status_code == 200
    async with AsyncTestClient(app=_app(db.url)) as plain:
        assert "strict-transport-security" not in (await plain.get("/signin")).headers


async def test_every_response_carries_the_security_headers(db):
    async with AsyncTestClient(app=_app(db.url)) as client:
        for path in ("/signin", "/static/app.css", "/nowhere", "/api/v1/me"):
            headers = (await client.get(path)).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"


async def record_failures(db: Any, username: str, address: str, count: int) -> None:
    """Failed attempts made just now, as the throttle records them."""
    async with db.write() as session:
        for _ in range(count):
            session.add(SignInAttempt(username=username, address=address, ok=False))


async def _try(client: AsyncTestClient[Any], username: str, password: str) -> Any:
    return await client.post(
        "/signin",
        data={
            "username": username,
            "password": password,
            "_csrf_token": client.cookies["coordinator_csrf"],
        },
        follow_redirects=False,
    )


async def test_wrong_passwords_slow_the_pair_down_with_a_translated_wait_and_retry_after(db):
    await build_world(db)
    async with AsyncTestClient(app=_app(db.url)) as client:
        await client.get("/signin")
        for _ in range(throttle.PAIR_FREE):
            wrong = await _try(client, "outsider-lead", "not the password")
            assert wrong.status_code == 200 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
        # Seven more failures from the same test client: 12 in all, so 2^7 s to wait.
        await record_failures(db, "outsider-lead", "testclient", 7)
        held = await _try(client, "outsider-lead", PASSWORD)
        assert held.status_code == 429
        assert 100 <= int(held.headers["retry-after"]) <= 128
        assert "Thử quá nhiều lần. Hãy thử lại sau 3 phút." in held.text


def test_the_delay_doubles_after_the_free_failures_and_is_capped():
    assert [throttle.delay_after(n, 5) for n in (0, 4, 5, 6, 10)] == [0, 0, 1, 2, 32]
    assert throttle.delay_after(40, 5) == throttle.MAX_DELAY == 900
    assert throttle.address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttle.address_key("::ffff:10.0.0.7") == "10.0.0.7"


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    from ipaddress import ip_network

    proxies = [ip_network("10.0.0.0/8")]
    assert real_client("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9"
    assert real_client("10.0.0.2", "1.2.3.4, 198.51.100.7", proxies) == "198.51.100.7"
    assert real_client("10.0.0.2", "198.51.100.7, 10.0.0.3", proxies) == "198.51.100.7"
    assert real_client("10.0.0.2", "garbage", proxies) == "10.0.0.2"
    assert host_allowed("coordinator.example.vn:443", ["coordinator.example.vn"])
    assert host_allowed("[::1]:8000", ["::1"]) and not host_allowed("evil.example", ["a"])


async def test_a_host_not_served_here_gets_400_on_every_path_matched_or_not(db):
    """Litestar runs middleware only on matched routes: the Host check wraps the whole app,
    so an unknown path, a wrong method and the static files answer 400 too, never 404/405."""
    await build_world(db)
    evil = {"host": "evil.example"}
    async with AsyncTestClient(app=_app(db.url)) as client:
        for method, path in [
            ("GET", "/no-such-page"),
            ("GET", "/api/v1/no-such-thing"),
            ("DELETE", "/signin"),
            ("GET", "/static/no-such-file.css"),
            ("GET", "/signin"),
        ]:
            answer = await client.request(method, path, headers=evil)
            assert answer.status_code == 400, (method, path, answer.status_code)
            assert answer.headers["x-frame-options"] == "DENY"
        assert (await client.get("/no-such-page")).status_code == 404
        # Load balancers probe health by address: those answer whatever the Host.
        assert (await client.get("/health", headers=evil)).status_code == 200
