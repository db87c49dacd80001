"""The one scoping helper: what each role may see and change. Every user-visible query uses it.

- admin: everything.
- coordinator: campaigns under agreements their organization is party to; named members of
  their own organization subtree.
- lead: named members, clubs and group chats of their organization subtree; campaigns that
  reach that subtree.
- leadership: aggregates only (campaigns, tallies), never members, assignments or reports.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, exists, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.models import User

# Actor and SYSTEM live in policy (which must not import this module); slices import them here.
from coordinator.auth.policy import SYSTEM as SYSTEM
from coordinator.auth.policy import Actor as Actor
from coordinator.campaigns.models import Assignment, Campaign, CampaignTarget
from coordinator.errors import NotFound
from coordinator.organizations.models import Agreement, AgreementParty, Club, GroupChat, Member
from coordinator.organizations.tree import ancestor_ids, subtree_ids

S = TypeVar("S", bound=Select[Any])


async def actor_for(session: AsyncSession, user: User) -> Actor:
    """The user's place in the tree. Admins and leadership see everything, so no rule here
    reads their subtree or ancestors: skipping the two tree queries makes every page of theirs
    cheaper (the dashboards under load)."""
    assert user.id is not None
    if policy.sees_everything(user):
        return Actor(user.id, user.role, user.organization_id, frozenset(), frozenset())
    return Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        subtree=frozenset(await subtree_ids(session, [user.organization_id])),
        ancestors=frozenset(await ancestor_ids(session, user.organization_id)),
    )


def members(actor: Actor, stmt: S) -> S:
    """Named members: admins see all; leads and coordinators their own subtree; leadership none."""
    if policy.administers(actor):
        return stmt
    policy.require(policy.sees_names(actor), "Leadership sees aggregates, not named members.")
    return stmt.where(col(Member.organization_id).in_(actor.subtree))


def users(actor: Actor, stmt: S) -> S:
    """Users by name (their own Telegram, e.g. as focal points): admins see all; leads and
    coordinators those of their own subtree; leadership none, as with members."""
    if policy.administers(actor):
        return stmt
    policy.require(policy.sees_names(actor), "Leadership sees aggregates, not named members.")
    return stmt.where(col(User.organization_id).in_(actor.subtree))


def group_chats(actor: Actor, stmt: S) -> S:
    if policy.administers(actor):
        return stmt
    policy.require(policy.sees_names(actor), "Leadership sees aggregates, not group chats.")
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
    if policy.sees_everything(actor):
        return stmt
    if policy.coordinates(actor):
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
    if policy.sees_everything(actor):
        return stmt
    return stmt.where(party_to(actor.lineage))


def assignments(actor: Actor, stmt: S) -> S:
    """Who did what: admins; coordinators for their campaigns; leads for their own people."""
    if policy.administers(actor):
        return stmt
    policy.require(
        policy.sees_names(actor), "Leadership sees aggregates, not individual assignments."
    )
    if policy.coordinates(actor):
        return stmt.where(
            exists()
            .where(col(Campaign.id) == Assignment.campaign_id)
            .where(_party_of(frozenset({actor.organization_id})))
        )
    # A lead: the assignments of their own people and groups.
    own_members = select(Member.id).where(col(Member.organization_id).in_(actor.subtree))
    own_groups = select(GroupChat.id).where(col(GroupChat.organization_id).in_(actor.subtree))
    return stmt.where(
        or_(
            col(Assignment.member_id).in_(own_members),
            col(Assignment.group_chat_id).in_(own_groups),
        )
    )


async def visible_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """The campaign if this actor may see it; NotFound otherwise (no hint that it exists)."""
    campaign = await session.scalar(
        campaigns(actor, select(Campaign).where(Campaign.id == campaign_id))
    )
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found.")
    return campaign


async def editable_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    policy.require(policy.runs_campaigns(actor))
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
