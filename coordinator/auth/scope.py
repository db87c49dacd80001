"""The one scoping helper: what each role may see and change. Every user-visible query uses it.

- admin: everything.
- coordinator: campaigns under agreements their organization is party to; named members of
  their own organization subtree.
- lead: named members, clubs and group chats of their organization subtree; campaigns that
  reach that subtree.
- leadership: aggregates only (campaigns, tallies), never members, assignments or reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, exists, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import User
from coordinator.campaigns.models import Assignment, Campaign, CampaignTarget
from coordinator.errors import Forbidden, NotFound
from coordinator.organizations.models import Agreement, AgreementParty, Club, GroupChat, Member
from coordinator.organizations.tree import ancestor_ids, subtree_ids

S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True)
class Actor:
    """Who is acting, with their place in the organization tree resolved once per request."""

    user_id: int | None
    role: str
    organization_id: int
    subtree: frozenset[int]
    ancestors: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def lineage(self) -> frozenset[int]:
        return self.subtree | self.ancestors


# The scheduler and the bot act as the system: admin rights, no user behind them.
SYSTEM = Actor(
    user_id=None, role="admin", organization_id=0, subtree=frozenset(), ancestors=frozenset()
)


async def actor_for(session: AsyncSession, user: User) -> Actor:
    """The user's place in the tree. Admins and leadership see everything, so no rule here
    reads their subtree or ancestors: skipping the two tree queries makes every page of theirs
    cheaper (the dashboards under load)."""
    assert user.id is not None
    if user.role in ("admin", "leadership"):
        return Actor(user.id, user.role, user.organization_id, frozenset(), frozenset())
    return Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        subtree=frozenset(await subtree_ids(session, [user.organization_id])),
        ancestors=frozenset(await ancestor_ids(session, user.organization_id)),
    )


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in ("admin", *roles):
        raise Forbidden("Your role does not allow this.")


def require_org(actor: Actor, organization_id: int) -> None:
    """Changes to an organization's people and groups: admins, or leads of its subtree."""
    if actor.is_admin:
        return
    if actor.role != "lead" or organization_id not in actor.subtree:
        raise Forbidden("You can only manage your own organization and those below it.")


def members(actor: Actor, stmt: S) -> S:
    """Named members: admins see all; leads and coordinators their own subtree; leadership none."""
    if actor.is_admin:
        return stmt
    if actor.role == "leadership":
        raise Forbidden("Leadership sees aggregates, not named members.")
    return stmt.where(col(Member.organization_id).in_(actor.subtree))


def users(actor: Actor, stmt: S) -> S:
    """Users by name (their own Telegram, e.g. as focal points): admins see all; leads and
    coordinators those of their own subtree; leadership none, as with members."""
    if actor.is_admin:
        return stmt
    if actor.role == "leadership":
        raise Forbidden("Leadership sees aggregates, not named members.")
    return stmt.where(col(User.organization_id).in_(actor.subtree))


def group_chats(actor: Actor, stmt: S) -> S:
    if actor.is_admin:
        return stmt
    if actor.role == "leadership":
        raise Forbidden("Leadership sees aggregates, not group chats.")
    return stmt.where(col(GroupChat.organization_id).in_(actor.subtree))


def _party_of(organization_ids: frozenset[int]) -> Any:
    return exists().where(
        col(AgreementParty.agreement_id) == Campaign.agreement_id,
        col(AgreementParty.organization_id).in_(organization_ids),
    )


def _reaches(organization_ids: frozenset[int]) -> Any:
    """The campaign targets one of these organizations or a club inside them."""
    club_in = select(Club.id).where(col(Club.organization_id).in_(organization_ids))
    return exists().where(
        col(CampaignTarget.campaign_id) == Campaign.id,
        or_(
            col(CampaignTarget.organization_id).in_(organization_ids),
            col(CampaignTarget.club_id).in_(club_in),
        ),
    )


def campaigns(actor: Actor, stmt: S) -> S:
    if actor.role in ("admin", "leadership"):
        return stmt
    if actor.role == "coordinator":
        return stmt.where(_party_of(frozenset({actor.organization_id})))
    return stmt.where(_reaches(actor.lineage))


def party_to(organization_ids: frozenset[int]) -> Any:
    """The agreement has one of these organizations as a party (a filter on `Agreement`): the one
    party filter, for who may read agreements and under which ones a coordinator may draft."""
    return exists().where(
        col(AgreementParty.agreement_id) == Agreement.id,
        col(AgreementParty.organization_id).in_(organization_ids),
    )


def agreements(actor: Actor, stmt: S) -> S:
    """Agreements are internal documents: parties' people (up and down the tree) and leadership."""
    if actor.role in ("admin", "leadership"):
        return stmt
    return stmt.where(party_to(actor.lineage))


def assignments(actor: Actor, stmt: S) -> S:
    """Who did what: admins; coordinators for their campaigns; leads for their own people."""
    if actor.is_admin:
        return stmt
    if actor.role == "coordinator":
        return stmt.where(
            exists()
            .where(col(Campaign.id) == Assignment.campaign_id)
            .where(_party_of(frozenset({actor.organization_id})))
        )
    if actor.role == "lead":
        own_members = select(Member.id).where(col(Member.organization_id).in_(actor.subtree))
        own_groups = select(GroupChat.id).where(col(GroupChat.organization_id).in_(actor.subtree))
        return stmt.where(
            or_(
                col(Assignment.member_id).in_(own_members),
                col(Assignment.group_chat_id).in_(own_groups),
            )
        )
    raise Forbidden("Leadership sees aggregates, not individual assignments.")


async def visible_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """The campaign if this actor may see it; NotFound otherwise (no hint that it exists)."""
    campaign = await session.scalar(
        campaigns(actor, select(Campaign).where(Campaign.id == campaign_id))
    )
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found.")
    return campaign


async def editable_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    require_role(actor, "coordinator")
    return await visible_campaign(session, actor, campaign_id)


async def chat_names(session: AsyncSession, actor: Actor, chats: set[int]) -> dict[int, str]:
    """Telegram chats by who they are: member names (private chats) and group titles, as far
    as the actor may see them."""
    people: Any = select(Member.telegram_user_id, Member.display_name).where(
        col(Member.telegram_user_id).in_(chats)
    )
    groups: Any = select(GroupChat.telegram_chat_id, GroupChat.title).where(
        col(GroupChat.telegram_chat_id).in_(chats)
    )
    names: dict[int, str] = {}
    for stmt in (members(actor, people), group_chats(actor, groups)):
        names.update((chat, name) for chat, name in (await session.execute(stmt)).all())
    return names
