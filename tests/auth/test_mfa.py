"""The second factor: enrolment, codes used once, recovery codes, who must have one."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pyotp
import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select

from coordinator.app import create_app
from coordinator.auth import mfa
from coordinator.auth.models import AuditEvent, User
from coordinator.errors import Invalid
from coordinator.settings import read_settings
from tests.factories import PASSWORD

KEY = "k" * 48


def _app(db_url: str) -> Any:
    env = {**os.environ, "COORDINATOR_DATABASE_URL": db_url, "COORDINATOR_MFA_ADMINS": "required"}
    return create_app(read_settings(env))


async def _password(client: AsyncTestClient[Any], username: str) -> str:
    """Sign in with the password; returns where the site sends the browser next."""
    await client.get("/signin")
    answer = await client.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "_csrf_token": _csrf(client)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def _csrf(client: AsyncTestClient[Any]) -> str:
    return client.cookies["coordinator_csrf"]


async def _actions(world) -> list[str]:
    async with world.db.read() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def test_it_accepts_each_code_once_and_each_recovery_code_once(world):
    user_id, seed, now = world.user_id["coordinator"], mfa.new_seed(), time.time()
    totp = pyotp.TOTP(seed)
    near = {totp.at(now + drift) for drift in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in near)
    with pytest.raises(Invalid):
        await mfa.confirm(world.db, user_id, seed, wrong, KEY, now)
    codes = await mfa.confirm(world.db, user_id, seed, pyotp.TOTP(seed).at(now), KEY, now)
    assert len(codes) == 10 and len(set(codes)) == 10
    later = now + 60
    current = pyotp.TOTP(seed).at(later)
    assert await mfa.verify(world.db, user_id, current, KEY, later)
    assert not await mfa.verify(world.db, user_id, current, KEY, later)  # replayed
    assert await mfa.verify(world.db, user_id, codes[0], KEY, later)
    assert not await mfa.verify(world.db, user_id, codes[0], KEY, later)  # used up
    assert not await mfa.verify(world.db, user_id, current, "another key" * 4, later + 30)
    assert {"mfa.enrol", "mfa.recovery_used"} <= set(await _actions(world))


async def test_an_admin_must_set_up_a_second_factor_then_signs_in_with_it(world):
    async with AsyncTestClient(app=_app(world.db.url)) as client:
        assert await _password(client, "admin") == "/account/mfa"
        held = await client.get("/users", follow_redirects=False)
        assert held.status_code in (302, 303) and held.headers["location"] == "/account/mfa"
        setup = await client.get("/account/mfa")
        seed = re.search(r'id="mfa-seed">([A-Z2-7]+)<', setup.text).group(1)  # type: ignore[union-attr]
        assert "<svg" in setup.text
        done = await client.post(
            "/account/mfa", data={"code": pyotp.TOTP(seed).now(), "_csrf_token": _csrf(client)}
        )
        codes = re.findall(r'<code class="secret">(\d{5}) (\d{5})</code>', done.text)
        assert len(codes) == 10
        assert (await client.get("/users")).status_code == 200  # set up: let through

        await client.post("/signout", data={"_csrf_token": _csrf(client)})
        assert await _password(client, "admin") == "/signin/code"
        assert (await client.get("/users", follow_redirects=False)).status_code in (302, 303)
        wrong = await client.post(
            "/signin/code", data={"code": "12345", "_csrf_token": _csrf(client)}
        )
        assert "not right" in wrong.text or "chưa đúng" in wrong.text
        recovery = "".join(codes[0])
        right = await client.post(
            "/signin/code",
            data={"code": recovery, "_csrf_token": _csrf(client)},
            follow_redirects=False,
        )
        assert right.status_code == 303
        assert (await client.get("/users")).status_code == 200


async def test_other_roles_need_one_only_when_an_admin_says_so(world):
    async with AsyncTestClient(app=_app(world.db.url)) as client:
        assert await _password(client, "coordinator") == "/"
    await mfa.set_required_roles(world.db, world.actor["admin"], {"coordinator"})
    async with AsyncTestClient(app=_app(world.db.url)) as client:
        assert await _password(client, "coordinator") == "/account/mfa"
        refused = await client.post("/account/mfa/remove", data={"_csrf_token": _csrf(client)})
        assert refused.status_code == 200  # back on the page, with the reason
    assert "mfa.policy" in await _actions(world)


async def test_an_admin_removes_a_lost_second_factor(world):
    user_id, seed, now = world.user_id["lead"], mfa.new_seed(), time.time()
    await mfa.confirm(world.db, user_id, seed, pyotp.TOTP(seed).at(now), KEY, now)
    assert await mfa.enrolled(world.db, user_id)
    await mfa.remove(world.db, world.actor["admin"], user_id)
    assert not await mfa.enrolled(world.db, user_id)
    assert "mfa.remove" in await _actions(world)


async def test_removing_ones_own_second_factor_needs_the_password_and_a_code(world):
    user_id, seed, now = world.user_id["lead"], mfa.new_seed(), time.time()
    await mfa.confirm(world.db, user_id, seed, pyotp.TOTP(seed).at(now - 60), KEY, now - 60)
    lead = world.actor["lead"]
    with pytest.raises(Invalid):
        await mfa.remove_own(world.db, lead, "not the password", pyotp.TOTP(seed).now(), KEY, "")
    with pytest.raises(Invalid):
        await mfa.remove_own(world.db, lead, PASSWORD, "000001", KEY, "")
    assert await mfa.enrolled(world.db, user_id)
    await mfa.remove_own(world.db, lead, PASSWORD, pyotp.TOTP(seed).now(), KEY, "")
    assert not await mfa.enrolled(world.db, user_id)


async def test_code_guesses_are_throttled_like_passwords(world):
    from coordinator.auth.throttle import PAIR_FREE, TooManyAttempts

    user_id, seed, now = world.user_id["lead"], mfa.new_seed(), time.time()
    await mfa.confirm(world.db, user_id, seed, pyotp.TOTP(seed).at(now), KEY, now)
    near = {pyotp.TOTP(seed).at(now + drift) for drift in (-30, 0, 30)}
    guesses = (f"{n:06d}" for n in range(1000) if f"{n:06d}" not in near)
    for _ in range(PAIR_FREE):
        assert not await mfa.checked(world.db, user_id, next(guesses), KEY, "10.9.9.9")
    with pytest.raises(TooManyAttempts):
        await mfa.checked(world.db, user_id, next(guesses), KEY, "10.9.9.9")
    assert "mfa.code_failed" in await _actions(world)


async def test_the_users_page_marks_the_users_whose_role_must_still_set_one_up(world):
    await mfa.set_required_roles(world.db, world.actor["admin"], {"coordinator"})
    async with world.db.read() as session:
        users = list(await session.scalars(select(User)))
    required = await mfa.must_use_among(world.db, users, admins=False)
    coordinators = {world.user_id["coordinator"], world.user_id["outsider_coordinator"]}
    assert required == coordinators
    env = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": world.db.url,
        "COORDINATOR_MFA_ADMINS": "optional",
    }
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        assert await _password(client, "admin") == "/"
        listing = (await client.get("/users")).text
    assert listing.count('class="badge warn"') == len(coordinators)
    assert re.search(r'value="admin"[^>]*disabled', listing)  # admins' rule is not a choice
    assert not re.search(r'value="lead"[^>]*disabled', listing)


async def test_only_an_admin_removes_a_factor_through_the_users_page(world):
    user_id, seed, now = world.user_id["lead"], mfa.new_seed(), time.time()
    env = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": world.db.url,
        "COORDINATOR_MFA_ADMINS": "required",
    }
    settings = read_settings(env)
    app, key = create_app(settings), settings.secret_key
    await mfa.confirm(world.db, user_id, seed, pyotp.TOTP(seed).at(now - 60), key, now - 60)
    async with AsyncTestClient(app=app) as client:
        assert await _password(client, "lead") == "/signin/code"
        code = {"code": pyotp.TOTP(seed).now(), "_csrf_token": _csrf(client)}
        assert (await client.post("/signin/code", data=code, follow_redirects=False)).is_redirect
        refused = await client.post(
            f"/users/{user_id}/mfa/remove", data={"_csrf_token": _csrf(client)}
        )
    assert refused.status_code == 403  # own factor: password and code, on /account/mfa
    assert await mfa.enrolled(world.db, user_id)
