"""Passwords, sign-in, tokens and roles."""

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from coordinator.auth import passwords
from coordinator.auth import service as auth
from coordinator.auth.models import ApiToken, AuditEvent, User
from coordinator.errors import Conflict, Forbidden, Invalid
from tests.factories import PASSWORD


def test_it_hashes_with_argon2id_at_the_librarys_recommended_cost():
    default = PasswordHasher()
    assert default.type.name == "ID"
    assert default.memory_cost >= 19 * 1024 and default.time_cost >= 2
    digest = passwords.hash_password("secret password")
    assert digest.startswith("$argon2id$")
    assert passwords.verify_password(digest, "secret password")
    assert not passwords.verify_password(digest, "wrong password")
    assert not passwords.verify_password(None, "secret password")
    assert not passwords.verify_password("not a hash", "x")


async def test_it_signs_in_and_audits_both_outcomes_without_the_password(world):
    assert (await auth.sign_in(world.db, "lead", PASSWORD)).id == world.user_id["lead"]
    assert await auth.sign_in(world.db, "lead", "wrong") is None
    assert await auth.sign_in(world.db, "nobody", PASSWORD) is None
    async with world.db.read() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["signin.ok", "signin.failed"]))
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [e.action for e in events] == ["signin.ok", "signin.failed", "signin.failed"]
    assert all(PASSWORD not in str(e.detail) for e in events)


async def test_it_refuses_inactive_users(world):
    async with world.db.write() as session:
        user = await session.get(User, world.user_id["lead"])
        user.active = False
    assert await auth.sign_in(world.db, "lead", PASSWORD) is None


async def test_it_stores_only_token_digests(world):
    token = await auth.create_token(world.db, world.actor["admin"], world.user_id["lead"], "ci")
    async with world.db.read() as session:
        rows = (await session.scalars(select(ApiToken))).all()
    assert all(token not in (r.token_hash, r.name) for r in rows)
    actor = await auth.actor_from_token(world.db, token)
    assert actor.role == "lead" and actor.subtree == world.actor["lead"].subtree
    assert await auth.actor_from_token(world.db, token + "x") is None


async def test_it_lets_users_make_their_own_tokens_but_not_others(world):
    await auth.create_token(world.db, world.actor["lead"], world.user_id["lead"], "mine")
    with pytest.raises(Forbidden):
        await auth.create_token(world.db, world.actor["lead"], world.user_id["admin"], "theirs")


async def test_it_validates_new_users(world):
    with pytest.raises(Invalid) as error:
        await auth.create_user(
            world.db,
            None,
            username="A B",
            password="short",
            role="king",
            organization_id=world.org["province"],
        )
    assert {e["field"] for e in error.value.errors} == {"username", "password", "role"}
    with pytest.raises(Conflict, match="taken"):
        await auth.create_user(
            world.db,
            None,
            username="lead",
            password=PASSWORD,
            role="lead",
            organization_id=world.org["province"],
        )


async def test_it_audits_role_changes(world):
    await auth.set_role(world.db, world.actor["admin"], world.user_id["lead"], "coordinator")
    async with world.db.read() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "user.role"))
    assert event.detail == {"old": "lead", "new": "coordinator"}
    with pytest.raises(Forbidden):
        await auth.set_role(world.db, world.actor["lead"], world.user_id["lead"], "admin")


async def test_it_never_leaves_the_deployment_without_an_active_admin(world):
    admin, me = world.actor["admin"], world.user_id["admin"]
    with pytest.raises(Conflict, match="last active administrator"):
        await auth.set_role(world.db, admin, me, "coordinator")
    second = await auth.create_user(
        world.db,
        admin,
        username="hai",
        password=PASSWORD,
        role="admin",
        organization_id=world.org["province"],
    )
    await auth.set_role(world.db, admin, me, "coordinator")  # another admin remains
    with pytest.raises(Conflict, match="last active administrator"):
        await auth.set_active(world.db, world.actor["admin"], second.id, False)


async def test_it_rehashes_a_password_made_with_older_parameters_at_sign_in(world, monkeypatch):
    async with world.db.read() as session:
        before = (await session.get(User, world.user_id["lead"])).password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", stronger)
    assert passwords.needs_rehash(before)
    assert await auth.sign_in(world.db, "lead", PASSWORD) is not None
    async with world.db.read() as session:
        after = (await session.get(User, world.user_id["lead"])).password_hash
    assert after != before and "m=2048,t=2" in after and not passwords.needs_rehash(after)
    assert await auth.sign_in(world.db, "lead", PASSWORD) is not None  # the new hash verifies


async def test_an_accounts_failures_are_capped_at_100_an_hour_from_any_addresses(world):
    from datetime import timedelta

    from coordinator.auth.models import SignInAttempt
    from coordinator.auth.throttle import ACCOUNT_CEILING, TooManyAttempts
    from coordinator.base import utcnow

    start = utcnow() - timedelta(minutes=50)
    async with world.db.write() as session:
        for n in range(ACCOUNT_CEILING - 1):  # two failures from each of 50 addresses
            at = start + timedelta(seconds=n)
            session.add(
                SignInAttempt(username="admin", address=f"10.1.0.{n // 2}", at=at, ok=False)
            )
    assert await auth.sign_in(world.db, "admin", "wrong password", "10.2.0.1") is None
    with pytest.raises(TooManyAttempts) as held:
        await auth.sign_in(world.db, "admin", PASSWORD, "10.3.0.1")
    assert 9 * 60 < held.value.retry_after <= 10 * 60  # the oldest failure ages out in ~10 min
    assert await auth.sign_in(world.db, "lead", PASSWORD, "10.3.0.1") is not None  # others fine


async def test_expired_and_idle_sessions_are_gone_and_purged(world):
    from datetime import timedelta

    from coordinator.auth import sessions
    from coordinator.auth.models import WebSession
    from coordinator.base import utcnow

    lead = world.user_id["lead"]
    await sessions.create(world.db, "fresh", b"{}", lead, None)
    await sessions.create(world.db, "old", b"{}", lead, None, lifetime=timedelta(seconds=-1))
    await sessions.create(world.db, "idle", b"{}", lead, None)
    async with world.db.write() as session:
        idle = await session.scalar(
            select(WebSession).where(WebSession.key_hash == sessions.key_hash("idle"))
        )
        idle.last_seen_at = utcnow() - sessions.IDLE - timedelta(minutes=1)
    assert await sessions.load(world.db, "fresh") == b"{}"
    assert await sessions.load(world.db, "old") is None
    assert await sessions.load(world.db, "idle") is None
    assert await sessions.purge_expired(world.db) == 2
    async with world.db.read() as session:
        kept = (await session.scalars(select(WebSession.key_hash))).all()
    assert kept == [sessions.key_hash("fresh")]  # only digests are stored, never the ids


async def test_parallel_guesses_count_against_each_other(world):
    """Each attempt is recorded before its password is checked, so a burst cannot slip
    past the free five while the first checks are still running."""
    import asyncio

    from coordinator.auth.throttle import PAIR_FREE, TooManyAttempts

    slow = PasswordHasher(time_cost=4, memory_cost=32 * 1024, parallelism=1).hash(PASSWORD)
    async with world.db.write() as session:
        (await session.get(User, world.user_id["lead"])).password_hash = slow
    burst = await asyncio.gather(
        *(auth.sign_in(world.db, "lead", f"guess {n}", "10.7.7.7") for n in range(15)),
        return_exceptions=True,
    )
    refused = [r for r in burst if isinstance(r, TooManyAttempts)]
    assert all(r is None or isinstance(r, TooManyAttempts) for r in burst), burst
    assert len(burst) - len(refused) <= PAIR_FREE + 1  # +1: a check slower than the 1 s wait
