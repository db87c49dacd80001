"""Members in the browser: the filtered list and one member's invitation."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.base import row_id
from coordinator.bots.identity import BotNotKnown
from coordinator.http import DB, CurrentActor, PageOffset, PathId, Search
from coordinator.i18n import translate
from coordinator.organizations import invites, members
from coordinator.organizations import service as organizations
from coordinator.organizations.members import MEMBER_STATES
from coordinator.organizations.web.sheets import invite_sheet_page, organization_options
from coordinator.web.context import AnyRequest, bot_not_ready, form_int, locale_of, page

PAGE = 50


@get("/members")
async def members_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    organization_id: FromQuery[str | None] = None,
    club_id: FromQuery[str | None] = None,
    member_state: Annotated[str | None, QueryParameter(query="state")] = None,
    q: Search = None,
    offset: PageOffset = 0,
) -> Template:
    org, club = form_int(organization_id), form_int(club_id)
    state = member_state if member_state in MEMBER_STATES else None
    found, club_map = await members.list_members(
        db,
        actor,
        organization_id=org,
        club_id=club,
        limit=PAGE,
        offset=max(offset, 0),
        state=state,
        search=q,
    )
    tree = await organizations.organization_tree(db, actor)
    mine = [line for line in tree if policy.sees_members_of(actor, row_id(line.organization))]
    club_names = {c.id: c.name for line in mine for c in line.clubs}
    query = f"organization_id={org or ''}&club_id={club or ''}&state={state or ''}&q={q or ''}&"
    return page(
        request,
        "organizations/members.html",
        title=translate(locale_of(request), "Members"),
        actor=actor,
        members=found,
        member_clubs={
            member_id: ", ".join(club_names.get(c, str(c)) for c in ids)
            for member_id, ids in club_map.items()
        },
        org_names={line.organization.id: line.organization.name for line in tree},
        org_options=organization_options(mine),
        club_options=[(c.id, c.name) for line in mine for c in line.clubs],
        states=list(MEMBER_STATES),
        filters={"organization_id": org, "club_id": club, "state": state, "q": q or ""},
        query=query,
    )


@post("/members/{member_id:int}/invite")
async def member_invite(
    request: AnyRequest, db: DB, actor: CurrentActor, member_id: PathId
) -> Template | Redirect:
    lang = locale_of(request)
    member, _ = await members.get_member(db, actor, member_id)
    try:
        link = await invites.member_invite(db, actor, member_id)
    except BotNotKnown:
        return bot_not_ready(request, "/members")
    return invite_sheet_page(
        request,
        actor,
        translate(lang, "Invitation"),
        ("/members", translate(lang, "Members")),
        [(member.display_name, link)],
    )


ROUTES = [members_page, member_invite]
