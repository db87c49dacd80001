"""The demo's campaign through organizations ('org' delivery): handed to two unions' focal
points, who pass it on the way a real one does, so the status page shows the cascade."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlmodel import col, update

from coordinator.auth.models import User
from coordinator.auth.scope import SYSTEM, actor_for
from coordinator.auth.service import create_user
from coordinator.base import utcnow
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.db import Database

Simulate = Callable[[Database, random.Random, int, datetime, datetime], Awaitable[None]]
TITLE = "Tuần lễ an toàn thông tin cho đoàn viên"
# (organization key, username, Telegram id, how the focal point passes it on). The district
# union also hands it to its communes, which have no focal point yet: a task left pending, as
# happens in a real province.
FOCAL_POINTS = [
    ("university", "daumoi-daihoc", 7_800_000_001, ("members", "clubs")),
    ("d_north", "daumoi-bacson", 7_800_000_002, ("members", "suborgs")),
]


async def org_campaign(
    db: Database,
    rng: random.Random,
    ids: dict[str, int],
    agreement_id: int,
    password: str,
    simulate: Simulate,
) -> int:
    """Launched yesterday, six days to run: the focal points received it and passed it on
    within hours; the volunteers it reached then report as in the direct campaigns."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    launch_at, deadline = now - timedelta(days=1), now + timedelta(days=5)
    focal = await _focal_points(db, ids, password)
    c = await campaigns.create_campaign(
        db,
        SYSTEM,
        campaigns.CampaignDraft(
            agreement_id=agreement_id,
            title=TITLE,
            launch_at=launch_at,
            deadline_at=deadline,
            brief="Các đơn vị triển khai tới đoàn viên: đọc, chia sẻ bài viết về bảo vệ tài khoản.",
            quota_percent=50,
            delivery_mode="org",
        ),
    )
    assert c.id is not None
    await campaigns.add_content_item(
        db,
        SYSTEM,
        c.id,
        url="https://www.facebook.com/congantinhbinhminh/posts/1100",
        kind="post",
        actions=["share", "react"],
        suggested_caption="Bật xác thực hai lớp, không chia sẻ mã OTP cho bất kỳ ai.",
    )
    targets = [ids[key] for key, *_ in FOCAL_POINTS]
    await campaigns.set_targets(db, SYSTEM, c.id, organization_ids=targets, club_ids=[])
    await campaigns.launch_campaign(db, SYSTEM, c.id, now=launch_at)
    moment = launch_at + timedelta(hours=1)
    for task in await cascade_service.tasks_of(db, c.id):
        steps = focal.get(task.organization_id)
        if task.id is None or steps is None:
            continue  # a commune's task: no focal point has acted on it
        user_id, choices = steps
        async with db.read() as session:
            user = await session.get(User, user_id)
            assert user is not None
            actor = await actor_for(session, user)
        for step in ("received", *choices):
            moment += timedelta(minutes=rng.randint(10, 90))
            await cascade_service.act(db, actor, task.id, step, now=moment)
    await simulate(db, rng, c.id, moment, deadline)
    return c.id


async def _focal_points(
    db: Database, ids: dict[str, int], password: str
) -> dict[int, tuple[int, tuple[str, ...]]]:
    """organization id -> (its focal point's user id, how they pass it on); each focal point
    linked to their own Telegram, as the bot needs to reach them."""
    found: dict[int, tuple[int, tuple[str, ...]]] = {}
    for key, username, telegram_id, choices in FOCAL_POINTS:
        user = await create_user(
            db, None, username=username, password=password, role="lead", organization_id=ids[key]
        )
        assert user.id is not None
        async with db.write() as session:
            await session.execute(
                update(User).where(col(User.id) == user.id).values(telegram_user_id=telegram_id)
            )
        await cascade_service.set_focal_points(db, None, ids[key], [user.id])
        found[ids[key]] = (user.id, choices)
    return found
