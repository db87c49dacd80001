"""A small world with personas: a province tree, an outsider organization, users of every role."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from coordinator.auth import service as auth
from coordinator.auth.scope import Actor, actor_for
from coordinator.base import utcnow
from coordinator.bots import identity
from coordinator.campaigns import service as campaigns
from coordinator.db import Database
from coordinator.organizations import agreements
from coordinator.organizations import service as orgs
from coordinator.organizations.models import Member

PASSWORD = "correct horse battery"
# Not the sandbox's default name: a link that names any other bot than the one getMe
# described fails the tests that follow it.
BOT_USERNAME = "BinhMinh_Volunteers_bot"
BOT_TOKEN = "1000:sandbox"
_telegram_ids = itertools.count(1_000_001)


@dataclass
class World:
    db: Database
    org: dict[str, int] = field(default_factory=dict)
    club: dict[str, int] = field(default_factory=dict)
    actor: dict[str, Actor] = field(default_factory=dict)
    user_id: dict[str, int] = field(default_factory=dict)
    member: dict[str, int] = field(default_factory=dict)
    agreement: dict[str, int] = field(default_factory=dict)
    channel_url: dict[str, str] = field(default_factory=dict)

    async def campaign(
        self,
        *,
        who: str = "coordinator",
        agreement: str = "province",
        targets: tuple[str, ...] = ("province",),
        clubs: tuple[str, ...] = (),
        mode: str | None = "dm",  # None: the mode follows the targets
        launch_at: datetime | None = None,
        deadline_at: datetime | None = None,
        items: int = 1,
        proof: bool = False,
    ) -> int:
        now = utcnow()
        actor = self.actor[who]
        c = await campaigns.create_campaign(
            self.db,
            actor,
            campaigns.CampaignDraft(
                agreement_id=self.agreement[agreement],
                title="Cảnh giác lừa đảo trực tuyến",
                brief="Chia sẻ bài viết cảnh báo lừa đảo.",
                launch_at=launch_at or now + timedelta(hours=1),
                deadline_at=deadline_at or now + timedelta(days=7),
                delivery_mode=mode,
                proof_requested=proof,
            ),
        )
        assert c.id is not None
        for n in range(items):
            await campaigns.add_content_item(
                self.db,
                actor,
                c.id,
                url=f"{self.channel_url[agreement]}/posts/{n + 1}",
                kind="post",
                actions=["share", "react"],
            )
        await campaigns.set_targets(
            self.db,
            actor,
            c.id,
            organization_ids=[self.org[t] for t in targets],
            club_ids=[self.club[k] for k in clubs],
        )
        return c.id


async def _member(
    db: Database,
    admin: Actor,
    org_id: int,
    name: str,
    *,
    linked: bool = True,
    opted_out: bool = False,
    club_ids: tuple[int, ...] = (),
) -> int:
    from coordinator.organizations.members import create_member

    m = await create_member(db, admin, organization_id=org_id, display_name=name, club_ids=club_ids)
    async with db.write() as session:
        row = await session.get(Member, m.id)
        assert row is not None
        if linked:
            row.telegram_user_id = next(_telegram_ids)
        if opted_out:
            row.opted_out_at = utcnow()
    assert m.id is not None
    return m.id


async def build_world(db: Database) -> World:
    w = World(db)
    # As if the bot had started and getMe had answered.
    await identity.record_identity(db, int(BOT_TOKEN.split(":")[0]), BOT_USERNAME)
    province = await orgs.create_organization(
        db, None, name="Tỉnh đoàn", kind="province", parent_id=None
    )
    assert province.id is not None
    w.org["province"] = province.id
    for key, name, kind, parent in [
        ("district", "Huyện đoàn A", "district", "province"),
        ("district2", "Huyện đoàn B", "district", "province"),
        ("commune", "Đoàn xã A1", "commune", "district"),
        ("outsider", "Đoàn khối doanh nghiệp", "enterprise", None),
    ]:
        o = await orgs.create_organization(
            db, None, name=name, kind=kind, parent_id=w.org[parent] if parent else None
        )
        assert o.id is not None
        w.org[key] = o.id
    for key, org in [
        ("admin", "province"),
        ("coordinator", "province"),
        ("lead", "district"),
        ("leadership", "province"),
        ("outsider_coordinator", "outsider"),
        ("outsider_lead", "outsider"),
    ]:
        role = key.removeprefix("outsider_")
        user = await auth.create_user(
            db,
            None,
            username=key.replace("_", "-"),
            password=PASSWORD,
            role=role,
            organization_id=w.org[org],
        )
        assert user.id is not None
        w.user_id[key] = user.id
        async with db.read() as session:
            w.actor[key] = await actor_for(session, user)
    admin = w.actor["admin"]
    for key, org in [("club", "district"), ("outsider_club", "outsider")]:
        club = await orgs.create_club(db, None, organization_id=w.org[org], name=f"CLB {key}")
        assert club.id is not None
        w.club[key] = club.id
    for key, org, kwargs in [
        ("d1", "district", {"club_ids": (w.club["club"],)}),
        ("d2", "district", {}),
        ("d3", "district", {"club_ids": (w.club["club"],)}),
        ("c1", "commune", {}),
        ("c_unlinked", "commune", {"linked": False}),
        ("b_opted_out", "district2", {"opted_out": True}),
        ("o1", "outsider", {}),
        ("o2", "outsider", {}),
    ]:
        w.member[key] = await _member(db, admin, w.org[org], f"Đoàn viên {key}", **kwargs)
    for key, lead in [("province", "province"), ("outsider", "outsider")]:
        a = await agreements.create_agreement(
            db,
            None,
            title=f"Quy chế phối hợp {key}",
            lead_organization_id=w.org[lead],
            party_ids=[],
            signed_on=date(2026, 1, 5),
            valid_from=date(2026, 1, 10),
            valid_until=date(2027, 12, 31),
        )
        assert a.id is not None
        w.agreement[key] = a.id
        url = f"https://www.facebook.com/doan-{key}"
        await agreements.create_channel(
            db, None, organization_id=w.org[lead], platform="facebook", url=url, name=f"Trang {key}"
        )
        w.channel_url[key] = url
    return w


@asynccontextmanager
async def api_client(world: World) -> AsyncIterator[Any]:
    """A test client whose `as_(persona)` gives the Authorization header for that persona."""
    from litestar.testing import AsyncTestClient

    from coordinator.app import create_app
    from coordinator.settings import read_settings

    tokens = {
        who: await auth.create_token(world.db, None, user_id, "tests")
        for who, user_id in world.user_id.items()
    }
    # The app gets its own engine: the test client serves it on an event loop of its own.
    env = {**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}
    app = create_app(read_settings(env))
    async with AsyncTestClient(app=app) as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.as_ = lambda who: {"Authorization": f"Bearer {tokens[who]}"}  # type: ignore[attr-defined]
        yield client


async def add_joint_agreement(w: World) -> None:
    """An agreement led by the second district with the province as a party: the province's
    coordinator drafts under it and the district's coordinator ("joint_lead") approves."""
    a = await agreements.create_agreement(
        w.db,
        None,
        title="Quy chế phối hợp liên ngành",
        lead_organization_id=w.org["district2"],
        party_ids=[w.org["province"]],
        signed_on=date(2026, 1, 5),
        valid_from=date(2026, 1, 10),
        valid_until=date(2027, 12, 31),
    )
    assert a.id is not None
    w.agreement["joint"] = a.id
    url = "https://www.facebook.com/doan-joint"
    await agreements.create_channel(
        w.db, None, organization_id=w.org["province"], platform="facebook", url=url, name="Trang"
    )
    w.channel_url["joint"] = url
    user = await auth.create_user(
        w.db,
        None,
        username="joint-lead",
        password=PASSWORD,
        role="coordinator",
        organization_id=w.org["district2"],
    )
    assert user.id is not None
    w.user_id["joint_lead"] = user.id
    async with w.db.read() as session:
        w.actor["joint_lead"] = await actor_for(session, user)


async def add_focal_point(w: World, key: str, org: str, telegram_id: int) -> Actor:
    """A lead of `org` linked in Telegram, named one of its focal points (beside any others):
    `w.user_id[key]`, `w.actor[key]`."""
    from coordinator.auth.models import User
    from coordinator.organizations.models import FocalPoint

    user = await auth.create_user(
        w.db,
        None,
        username=f"focal-{key}",
        password=PASSWORD,
        role="lead",
        organization_id=w.org[org],
    )
    assert user.id is not None
    async with w.db.write() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.telegram_user_id = telegram_id
        session.add(FocalPoint(organization_id=w.org[org], user_id=user.id))
    async with w.db.read() as session:
        w.actor[key] = await actor_for(session, row)
    w.user_id[key] = user.id
    return w.actor[key]


async def focal_point_id(w: World, key: str, org: str, telegram_id: int) -> int:
    """`add_focal_point`, answering the user's id."""
    actor = await add_focal_point(w, key, org, telegram_id)
    assert actor.user_id is not None
    return actor.user_id


async def actor_of(w: World, user_id: int) -> Actor:
    """The actor of a user, as the pages resolve it."""
    from coordinator.auth.models import User

    async with w.db.read() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return await actor_for(session, user)
