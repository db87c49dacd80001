"""Members (volunteers): create, edit, move, deactivate, list, and their clubs."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.errors import Invalid, NotFound, field_error
from coordinator.organizations.models import Club, Member, MemberClub, Organization
from coordinator.pagination import Page, paginate

LOCALES = ("vi", "en")


def check_member_fields(display_name: str, code: str | None, locale: str) -> list[dict[str, str]]:
    errors = []
    if not 1 <= len(display_name.strip()) <= 200:
        errors.append(field_error("display_name", "1-200 characters"))
    elif any(unicodedata.category(c) == "Cc" for c in display_name):
        errors.append(field_error("display_name", "must not contain control characters"))
    if code is not None and not 1 <= len(code.strip()) <= 64:
        errors.append(field_error("code", "1-64 characters"))
    if locale not in LOCALES:
        errors.append(field_error("locale", "vi or en"))
    return errors


async def _check_clubs(
    session: AsyncSession, organization_id: int, club_ids: Sequence[int]
) -> None:
    if not club_ids:
        return
    found = set(
        (
            await session.scalars(
                select(Club.id).where(
                    col(Club.id).in_(club_ids),
                    Club.organization_id == organization_id,
                )
            )
        ).all()
    )
    if missing := sorted(set(club_ids) - found):
        raise Invalid(
            "Clubs must belong to the member's organization.",
            errors=[
                field_error("club_ids", f"not clubs of organization {organization_id}: {missing}")
            ],
        )


async def set_clubs(session: AsyncSession, member_id: int, club_ids: Sequence[int]) -> None:
    await session.execute(delete(MemberClub).where(col(MemberClub.member_id) == member_id))
    session.add_all(MemberClub(member_id=member_id, club_id=c) for c in sorted(set(club_ids)))


async def club_ids_of(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = await session.execute(
        select(MemberClub.member_id, MemberClub.club_id).where(
            col(MemberClub.member_id).in_(member_ids)
        )
    )
    result: dict[int, list[int]] = {m: [] for m in member_ids}
    for member_id, club_id in rows:
        result[member_id].append(club_id)
    return result


async def create_member(
    db: Database,
    actor: Actor,
    *,
    organization_id: int,
    display_name: str,
    code: str | None = None,
    locale: str = "vi",
    club_ids: Sequence[int] = (),
) -> Member:
    policy.require_organization(actor, organization_id)
    if errors := check_member_fields(display_name, code, locale):
        raise Invalid("The member cannot be created.", errors=errors)
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise Invalid(
                "No such organization.",
                errors=[field_error("organization_id", "no such organization")],
            )
        await _check_clubs(session, organization_id, club_ids)
        if code and await session.scalar(
            select(Member.id).where(Member.organization_id == organization_id, Member.code == code)
        ):
            raise Invalid(
                "Duplicate code.", errors=[field_error("code", "already used in this organization")]
            )
        member = Member(
            organization_id=organization_id,
            display_name=display_name.strip(),
            code=code.strip() if code else None,
            locale=locale,
        )
        session.add(member)
        await session.flush()
        assert member.id is not None
        await set_clubs(session, member.id, club_ids)
        audit(session, actor, "member.create", "member", member.id)
    return member


async def _editable_member(session: AsyncSession, actor: Actor, member_id: int) -> Member:
    member = await session.scalar(
        scope.members(actor, select(Member).where(Member.id == member_id))
    )
    if member is None:
        raise NotFound(f"Member {member_id} not found.")
    policy.require_organization(actor, member.organization_id)
    return member


async def update_member(
    db: Database,
    actor: Actor,
    member_id: int,
    *,
    display_name: str | None = None,
    code: str | None = None,
    locale: str | None = None,
    club_ids: Sequence[int] | None = None,
    organization_id: int | None = None,
) -> Member:
    """Edit fields; a new organization_id moves the member (their old clubs are left behind)."""
    async with db.write() as session:
        member = await _editable_member(session, actor, member_id)
        new_org = organization_id if organization_id is not None else member.organization_id
        if new_org != member.organization_id:
            policy.require_organization(actor, new_org)
            if await session.get(Organization, new_org) is None:
                raise Invalid(
                    "No such organization.",
                    errors=[field_error("organization_id", "no such organization")],
                )
            if club_ids is None:
                club_ids = []
        errors = check_member_fields(
            display_name if display_name is not None else member.display_name,
            code if code is not None else member.code,
            locale or member.locale,
        )
        if errors:
            raise Invalid("The member cannot be changed.", errors=errors)
        if club_ids is not None:
            await _check_clubs(session, new_org, club_ids)
            await set_clubs(session, member_id, club_ids)
        if display_name is not None:
            member.display_name = display_name.strip()
        if code is not None:
            member.code = code.strip()
        if locale is not None:
            member.locale = locale
        moved_from = member.organization_id
        member.organization_id = new_org
        audit(
            session,
            actor,
            "member.update",
            "member",
            member_id,
            **({"moved_from": moved_from, "moved_to": new_org} if moved_from != new_org else {}),
        )
    return member


async def deactivate_member(db: Database, actor: Actor, member_id: int) -> Member:
    """Deactivated members keep their history but get no new assignments."""
    async with db.write() as session:
        member = await _editable_member(session, actor, member_id)
        if member.deactivated_at is None:
            member.deactivated_at = utcnow()
            audit(session, actor, "member.deactivate", "member", member_id)
    return member


async def reactivate_member(db: Database, actor: Actor, member_id: int) -> Member:
    """A deactivated member gets new assignments again; their history was kept."""
    async with db.write() as session:
        member = await _editable_member(session, actor, member_id)
        if member.deactivated_at is not None:
            member.deactivated_at = None
            audit(session, actor, "member.reactivate", "member", member_id)
    return member


async def get_member(db: Database, actor: Actor, member_id: int) -> tuple[Member, list[int]]:
    async with db.read() as session:
        member = await session.scalar(
            scope.members(actor, select(Member).where(Member.id == member_id))
        )
        if member is None:
            raise NotFound(f"Member {member_id} not found.")
        return member, (await club_ids_of(session, [member_id]))[member_id]


# The filters people ask for: who can be reached in Telegram, and who cannot and why.
MEMBER_STATES: dict[str, tuple[Any, ...]] = {
    "linked": (
        col(Member.telegram_user_id).is_not(None),
        col(Member.opted_out_at).is_(None),
        col(Member.unreachable_at).is_(None),
        col(Member.deactivated_at).is_(None),
    ),
    "not_linked": (col(Member.telegram_user_id).is_(None), col(Member.deactivated_at).is_(None)),
    "opted_out": (col(Member.opted_out_at).is_not(None),),
    "unreachable": (col(Member.unreachable_at).is_not(None),),
    "deactivated": (col(Member.deactivated_at).is_not(None),),
}


async def list_members(
    db: Database,
    actor: Actor,
    *,
    organization_id: int | None,
    club_id: int | None,
    limit: int,
    offset: int,
    state: str | None = None,
    search: str | None = None,
) -> tuple[Page[Member], dict[int, list[int]]]:
    stmt = scope.members(actor, select(Member).order_by(col(Member.id)))
    if state is not None:
        if state not in MEMBER_STATES:
            raise Invalid("Unknown state.", errors=[field_error("state", ", ".join(MEMBER_STATES))])
        stmt = stmt.where(*MEMBER_STATES[state])
    if search and search.strip():
        needle = search.strip()
        stmt = stmt.where(
            or_(
                col(Member.display_name).icontains(needle, autoescape=True),
                col(Member.code).icontains(needle, autoescape=True),
            )
        )
    if organization_id is not None:
        stmt = stmt.where(Member.organization_id == organization_id)
    if club_id is not None:
        stmt = stmt.where(
            col(Member.id).in_(select(MemberClub.member_id).where(MemberClub.club_id == club_id))
        )
    async with db.read() as session:
        page = await paginate(session, stmt, limit, offset)
        clubs = await club_ids_of(session, [m.id for m in page.items])
    return page, clubs
