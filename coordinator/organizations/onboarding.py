"""Linking Telegram to the coordinator: members by invite, group chats by group link, opt-out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.audit import audit
from coordinator.auth.models import User
from coordinator.auth.passwords import token_digest
from coordinator.base import utcnow
from coordinator.bots.identity import bot_of, bot_username
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.db import Database
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.delivery.queue import chat_bots, link_chat, resend_refused_cards
from coordinator.errors import Conflict, DomainError, Invalid
from coordinator.organizations import notes
from coordinator.organizations.members import LOCALES
from coordinator.organizations.models import GroupChat, Invite, Member, Organization
from coordinator.organizations.reachability import migrate_chat


@dataclass
class Linked:
    member_id: int
    display_name: str
    organization: str
    locale: str


OTHER_BOT = "This link is for another bot: open it with @{username}."


async def _invite(
    session: AsyncSession, secret: str, kinds: tuple[str, ...], now: datetime, bot: int
) -> Invite:
    # Locked: two /start presses at once must not both use a single-use link.
    invite = await session.scalar(
        select(Invite).where(Invite.token_hash == token_digest(secret)).with_for_update()
    )
    if (
        invite is None
        or invite.kind not in kinds
        or invite.used_at is not None
        or invite.expires_at < now
    ):
        raise Invalid("This invite link is not valid or has expired.", code="invite_invalid")
    # Members, groups and leads belong to the bot of their organization: a link opened in
    # another bot (typed by hand, or a link from before the bots changed) is refused, so a
    # chat never ends up with a bot that does not serve its organization.
    serving = await bot_of(session, invite.organization_id)
    if serving != bot:
        try:
            username = await bot_username(session, serving)
        except DomainError:
            username = "?"
        raise Invalid(OTHER_BOT, code="invite_elsewhere", values={"username": username})
    return invite


@dataclass
class LinkedUser:
    username: str
    locale: str


async def link_account(
    db: Database, secret: str, telegram_user_id: int, bot: int = DEFAULT_BOT
) -> Linked | LinkedUser:
    """/start <invite> to `bot`: a member's invite links a volunteer, a user's links a lead's
    digests. The chat then talks to that bot."""
    now = utcnow()
    try:
        async with db.write() as session:
            invite = await _invite(session, secret, ("member", "user"), now, bot)
            await link_chat(session, telegram_user_id, bot)
            if invite.kind == "user":
                return await _link_user(session, invite, telegram_user_id, now)
            return await _link_member(session, invite, telegram_user_id, now)
    # PostgreSQL: two invites for one account at the same instant; the commit ends the race.
    except IntegrityError as exc:
        raise Conflict(
            "This Telegram account is already linked to another member.", code="account_taken"
        ) from exc


async def _refuse_taken(
    session: AsyncSession,
    table: type[Member] | type[User],
    own_id: int | None,
    telegram_user_id: int,
    who: str,
) -> None:
    """One Telegram account serves one member (and, separately, one user)."""
    other = await session.scalar(
        select(table.id).where(table.telegram_user_id == telegram_user_id, table.id != own_id)
    )
    if other is not None:
        raise Conflict(
            f"This Telegram account is already linked to another {who}.", code="account_taken"
        )


async def _link_member(
    session: AsyncSession, invite: Invite, telegram_user_id: int, now: datetime
) -> Linked:
    """Bind the member of a single-use invite to this Telegram account, and tell their leads."""
    member = await session.get(Member, invite.member_id)
    if member is None or member.deactivated_at is not None:
        raise Invalid("This invite link is not valid or has expired.", code="invite_invalid")
    await _refuse_taken(session, Member, member.id, telegram_user_id, "member")
    member.telegram_user_id = telegram_user_id
    member.opted_out_at = member.unreachable_at = None
    invite.used_at = now
    org = await session.get(Organization, member.organization_id)
    audit(
        session, None, "member.linked", "member", member.id, organization_id=member.organization_id
    )
    await notes.tell_leads_member_joined(session, member, org.name if org else "", invite.id, now)
    return Linked(member.id or 0, member.display_name, org.name if org else "", member.locale)


async def _link_user(
    session: AsyncSession, invite: Invite, telegram_user_id: int, now: datetime
) -> LinkedUser:
    user = await session.get(User, invite.created_by_user_id)
    if user is None or not user.active:
        raise Invalid("This invite link is not valid or has expired.", code="invite_invalid")
    await _refuse_taken(session, User, user.id, telegram_user_id, "user")
    user.telegram_user_id = telegram_user_id
    invite.used_at = now
    audit(session, None, "user.telegram_linked", "user", user.id)
    return LinkedUser(user.username, user.locale)


async def user_linked(db: Database, user_id: int) -> bool:
    async with db.read() as session:
        user = await session.get(User, user_id)
    return user is not None and user.telegram_user_id is not None


async def unlink_user(db: Database, user_id: int) -> None:
    """The user stops getting digests: the link is dropped, Telegram keeps nothing of ours."""
    async with db.write() as session:
        user = await session.get(User, user_id)
        if user is not None and user.telegram_user_id is not None:
            user.telegram_user_id = None
            audit(session, None, "user.telegram_unlinked", "user", user.id)


async def register_group(
    db: Database, secret: str, chat_id: int, title: str, bot: int = DEFAULT_BOT
) -> str:
    """Register a group chat for the invite's organization or club, talking to `bot`; returns
    who it serves."""
    now = utcnow()
    async with db.write() as session:
        invite = await _invite(session, secret, ("group",), now, bot)
        await link_chat(session, chat_id, bot)
        group = await session.scalar(select(GroupChat).where(GroupChat.telegram_chat_id == chat_id))
        if group is None:
            group = GroupChat(
                telegram_chat_id=chat_id, title=title[:255], organization_id=invite.organization_id
            )
            session.add(group)
        group.organization_id, group.club_id = invite.organization_id, invite.club_id
        group.title, group.unreachable_at = title[:255], None
        invite.used_at = now
        org = await session.get(Organization, invite.organization_id)
        await session.flush()
        audit(
            session,
            None,
            "group.registered",
            "group_chat",
            group.id,
            organization_id=invite.organization_id,
            club_id=invite.club_id,
        )
        return org.name if org else ""


async def member_by_telegram(db: Database, telegram_user_id: int) -> Member | None:
    async with db.read() as session:
        return await session.scalar(
            select(Member).where(
                Member.telegram_user_id == telegram_user_id, col(Member.deactivated_at).is_(None)
            )
        )


async def set_opt_out(db: Database, telegram_user_id: int, opted_out: bool) -> Member | None:
    """/stop and /start again: the member's own choice, kept with its time."""
    now = utcnow()
    async with db.write() as session:
        member = await session.scalar(
            select(Member).where(Member.telegram_user_id == telegram_user_id)
        )
        if member is not None:
            member.opted_out_at = now if opted_out else None
            if member.unreachable_at is not None and not opted_out:
                await mark_reachable_in(session, member, now)
            member.unreachable_at = None
        return member


async def came_back(db: Database, telegram_user_id: int, bot: int = DEFAULT_BOT) -> bool:
    """A private message proves the member no longer blocks the bot: if Telegram had refused
    them, they are reachable again (and assigned at the next launch). True if they were not.
    Only a message through the bot their chat talks to counts: the one that was refused."""
    async with db.read() as session:  # the common case, a reachable member, writes nothing
        refused = await session.scalar(
            select(Member.id).where(
                Member.telegram_user_id == telegram_user_id, col(Member.unreachable_at).is_not(None)
            )
        )
    if refused is None:
        return False
    async with db.write() as session:
        if not await _talks_to(session, telegram_user_id, bot):
            return False
        member = await session.get(Member, refused, with_for_update=True)
        if member is None or member.unreachable_at is None:
            return False  # another update got here first
        await mark_reachable_in(session, member, utcnow())
    return True


async def mark_reachable_in(session: AsyncSession, member: Member, now: datetime) -> None:
    """The one rule for coming back: clear `unreachable_at`, record it, tell the leads once."""
    since = member.unreachable_at
    if since is None:
        return
    member.unreachable_at = None
    audit(
        session,
        None,
        "member.reachable_again",
        "member",
        member.id,
        organization_id=member.organization_id,
    )
    org = await session.get(Organization, member.organization_id)
    await notes.tell_leads_member_back(session, member, org.name if org else "", since, now)
    await _resend_refused_cards(session, member, now)


async def _resend_refused_cards(session: AsyncSession, member: Member, now: datetime) -> None:
    """Their running tasks whose card Telegram refused (so never delivered) go out again."""
    undelivered = (
        select(Assignment.id)
        .join(Campaign, col(Campaign.id) == Assignment.campaign_id)
        .where(
            Assignment.member_id == member.id,
            Assignment.status == "pending",
            Campaign.status == "active",
        )
    )
    await resend_refused_cards(
        session,
        undelivered,
        int(member.telegram_user_id or 0),
        now,
        "resent: the member can be reached again",
    )


async def _talks_to(session: AsyncSession, chat_id: int, bot: int) -> bool:
    return (await chat_bots(session, [chat_id])).get(chat_id, DEFAULT_BOT) == bot


async def group_came_back(db: Database, chat_id: int, bot: int = DEFAULT_BOT) -> bool:
    """Any update from a group chat means the bot is in it again (re-added after a kick); only
    the bot the group talks to counts."""
    async with db.read() as session:
        refused = await session.scalar(
            select(GroupChat.id).where(
                GroupChat.telegram_chat_id == chat_id, col(GroupChat.unreachable_at).is_not(None)
            )
        )
    if refused is None:
        return False
    async with db.write() as session:
        if not await _talks_to(session, chat_id, bot):
            return False
        group = await session.get(GroupChat, refused, with_for_update=True)
        if group is None or group.unreachable_at is None:
            return False
        group.unreachable_at = None
        audit(session, None, "group.reachable_again", "group_chat", group.id)
    return True


async def set_locale(db: Database, telegram_user_id: int, locale: str) -> None:
    if locale not in LOCALES:
        raise Invalid("Unknown language.", code="locale")
    async with db.write() as session:
        member = await session.scalar(
            select(Member).where(Member.telegram_user_id == telegram_user_id)
        )
        if member is not None:
            member.locale = locale


async def migrate_group(db: Database, old_chat_id: int, new_chat_id: int) -> None:
    """Telegram said the group moved (it became a supergroup): `reachability.migrate_chat`."""
    async with db.write() as session:
        await migrate_chat(session, old_chat_id, new_chat_id)
