"""A campaign to 2,000 linked volunteers, known both to the database and to the sandbox, and
what became of it: the database's view (tasks, outbox) and the volunteers' (their chats)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import col, select

from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.launch import audience
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.db import Database
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import Member
from tests.factories import World, build_world
from tests.faults.harness import Sandbox

UNSETTLED = ("pending", "sending", "uncertain")


@dataclass
class Crowd:
    world: World
    campaign_id: int
    members: int  # how many volunteers the campaign reaches


async def build_crowd(
    db: Database, sandbox: Sandbox, size: int = 2000, orgs: tuple[str, ...] = ("district",)
) -> Crowd:
    """The factories' world, topped up to `size` eligible volunteers, in turn in each of
    `orgs` (all in the campaign's province); every linked member gets a real sandbox account,
    so that every message can arrive."""
    world = await build_world(db)
    campaign_id = await world.campaign(launch_at=utcnow())
    async with db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        reached, _ = await audience(session, campaign)
        linked = list(
            await session.scalars(
                select(Member.id).where(col(Member.telegram_user_id).is_not(None))
            )
        )
    accounts = await sandbox.people(len(linked) + size - reached)
    async with db.write() as session:
        for member_id, account in zip(linked, accounts, strict=False):
            await session.execute(
                update(Member).where(col(Member.id) == member_id).values(telegram_user_id=account)
            )
        await session.execute(
            insert(Member),
            [
                {
                    "organization_id": world.org[orgs[n % len(orgs)]],
                    "display_name": f"Tình nguyện viên {n}",
                    "telegram_user_id": account,
                    "locale": "vi",
                    "created_at": utcnow(),
                }
                for n, account in enumerate(accounts[len(linked) :])
            ],
        )
    return Crowd(world, campaign_id, size)


async def launch(db: Database, crowd: Crowd) -> None:
    coordinator = crowd.world.actor["coordinator"]
    result = await campaigns.launch_campaign(db, coordinator, crowd.campaign_id)
    assert result.created == crowd.members, "the campaign must reach every volunteer of the crowd"


@dataclass
class Delivery:
    """The database's view of one campaign's delivery."""

    tasks: Counter[str] = field(default_factory=Counter)  # assignment status -> count
    outbox: Counter[str] = field(default_factory=Counter)  # outbox status -> count
    delivered_at_missing: int = 0
    chats: dict[int, int] = field(default_factory=dict)  # telegram chat -> assignment id

    @property
    def settled(self) -> bool:
        """Nothing left to send or in doubt, and no task still waiting for its message."""
        return not any(self.outbox[s] for s in UNSETTLED) and not self.tasks["pending"]


async def delivery(db: Database, campaign_id: int) -> Delivery:
    state = Delivery()
    async with db.read() as session:
        tasks = (
            await session.execute(
                select(Assignment.status, func.count())
                .where(col(Assignment.campaign_id) == campaign_id)
                .group_by(col(Assignment.status))
            )
        ).all()
        state.tasks.update({status: int(n) for status, n in tasks})
        rows = (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .join(Assignment, col(Assignment.id) == col(OutboxMessage.assignment_id))
                .where(col(Assignment.campaign_id) == campaign_id)
                .group_by(col(OutboxMessage.status))
            )
        ).all()
        state.outbox.update({status: int(n) for status, n in rows})
        state.delivered_at_missing = int(
            await session.scalar(
                select(func.count()).where(
                    col(Assignment.campaign_id) == campaign_id,
                    col(Assignment.status) != "pending",
                    col(Assignment.delivered_at).is_(None),
                )
            )
            or 0
        )
        chats = await session.execute(
            select(Member.telegram_user_id, Assignment.id)
            .join(Member, col(Member.id) == col(Assignment.member_id))
            .where(col(Assignment.campaign_id) == campaign_id)
        )
        state.chats = {int(chat): int(task) for chat, task in chats.all()}
    return state


async def settled(db: Database, campaign_id: int) -> Delivery | None:
    state = await delivery(db, campaign_id)
    return state if state.settled else None


async def outbox_rows(db: Database, statuses: tuple[str, ...]) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(
                select(func.count()).where(col(OutboxMessage.status).in_(statuses))
            )
            or 0
        )


@dataclass
class Received:
    """The volunteers' view: the cards each one has in their chat."""

    cards: dict[int, list[dict[str, Any]]]

    @property
    def lost(self) -> list[int]:
        return [chat for chat, cards in self.cards.items() if not cards]

    @property
    def duplicates(self) -> int:
        return sum(len(cards) - 1 for cards in self.cards.values() if cards)

    @property
    def unflagged(self) -> list[int]:
        """Chats showing two identical cards: a copy that does not say it is one."""
        return [
            chat
            for chat, cards in self.cards.items()
            if len({card["text"] for card in cards}) < len(cards)
        ]


async def received(sandbox: Sandbox, chats: list[int]) -> Received:
    """Every bot message in a volunteer's chat is a task card in these tests."""
    return Received(await sandbox.bot_messages(chats))


def summary(state: Delivery, seen: Received) -> str:
    return (
        f"tasks {dict(state.tasks)}, outbox {dict(state.outbox)}; volunteers: "
        f"{len(seen.lost)} without the card, {seen.duplicates} duplicate cards, "
        f"{len(seen.unflagged)} with identical copies"
    )
