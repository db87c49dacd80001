"""JSON routes: organizations, clubs, group chats, agreements, official channels."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from litestar import Controller, get, patch, post, put
from litestar.params import JSONBody

from coordinator.auth import policy
from coordinator.base import row_id
from coordinator.http import (
    DB,
    CurrentActor,
    Id,
    Limit,
    Offset,
    OptionalId,
    OptionalQueryId,
    PageOut,
    PathId,
    out,
    page_out,
)
from coordinator.organizations import agreements, invites
from coordinator.organizations import service as orgs


class OrganizationIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    kind: str = "union"
    parent_id: OptionalId = None


class OrganizationPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    parent_id: Id | msgspec.UnsetType | None = msgspec.UNSET


class OrganizationOut(msgspec.Struct):
    id: int
    parent_id: int | None
    name: str
    kind: str
    weekly_task_cap: int | None = None  # fair load; set on the organization's page


class ClubIn(msgspec.Struct, forbid_unknown_fields=True):
    organization_id: Id
    name: str


class ClubPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class ClubOut(msgspec.Struct):
    id: int
    organization_id: int
    name: str


class GroupChatOut(msgspec.Struct):
    id: int
    telegram_chat_id: int
    title: str
    organization_id: int
    club_id: int | None
    unreachable_at: datetime | None


class GroupInviteIn(msgspec.Struct, forbid_unknown_fields=True):
    organization_id: Id
    club_id: OptionalId = None


class InviteOut(msgspec.Struct):
    link: str
    expires_at: datetime


class AgreementIn(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    lead_organization_id: Id
    signed_on: date
    valid_from: date
    valid_until: date
    party_ids: list[Id] = []
    document_url: str | None = None


class AgreementUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A correction; the lead organization stays. Removing a party or changing the dates while
    live campaigns depend on them answers 409 listing those campaigns unless `confirm`."""

    title: str
    signed_on: date
    valid_from: date
    valid_until: date
    party_ids: list[Id] = []
    document_url: str | None = None
    confirm: bool = False


class AgreementOut(msgspec.Struct):
    id: int
    title: str
    lead_organization_id: int
    signed_on: date
    valid_from: date
    valid_until: date
    document_url: str | None
    party_ids: list[int] = []


class ChannelIn(msgspec.Struct, forbid_unknown_fields=True):
    organization_id: Id
    platform: str
    url: str
    name: str


class ChannelOut(msgspec.Struct):
    id: int
    organization_id: int
    platform: str
    url: str
    name: str


class OrganizationController(Controller):
    path = "/organizations"
    tags = ["organizations"]
    guards = [policy.guard(policy.sees_organizations)]  # the question the tree page asks too

    @get("/")
    async def list_organizations(
        self, db: DB, actor: CurrentActor, limit: Limit = 100, offset: Offset = 0
    ) -> PageOut[OrganizationOut]:
        return page_out(OrganizationOut, await orgs.list_organizations(db, actor, limit, offset))

    @post("/")
    async def create_organization(
        self, db: DB, actor: CurrentActor, data: JSONBody[OrganizationIn]
    ) -> OrganizationOut:
        org = await orgs.create_organization(
            db, actor, name=data.name, kind=data.kind, parent_id=data.parent_id
        )
        return out(OrganizationOut, org)

    @get("/{org_id:int}")
    async def get_organization(
        self, db: DB, actor: CurrentActor, org_id: PathId
    ) -> OrganizationOut:
        return out(OrganizationOut, await orgs.get_organization(db, actor, org_id))

    @patch("/{org_id:int}")
    async def update_organization(
        self, db: DB, actor: CurrentActor, org_id: PathId, data: JSONBody[OrganizationPatch]
    ) -> OrganizationOut:
        move = data.parent_id is not msgspec.UNSET
        parent = data.parent_id if isinstance(data.parent_id, int) else None
        org = await orgs.update_organization(
            db, actor, org_id, name=data.name, parent_id=parent, move=move
        )
        return out(OrganizationOut, org)


class ClubController(Controller):
    path = "/clubs"
    tags = ["clubs"]

    @get("/")
    async def list_clubs(
        self,
        db: DB,
        actor: CurrentActor,
        organization_id: OptionalQueryId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PageOut[ClubOut]:
        return page_out(ClubOut, await orgs.list_clubs(db, actor, organization_id, limit, offset))

    @post("/")
    async def create_club(self, db: DB, actor: CurrentActor, data: JSONBody[ClubIn]) -> ClubOut:
        club = await orgs.create_club(
            db, actor, organization_id=data.organization_id, name=data.name
        )
        return out(ClubOut, club)

    @patch("/{club_id:int}")
    async def rename_club(
        self, db: DB, actor: CurrentActor, club_id: PathId, data: JSONBody[ClubPatch]
    ) -> ClubOut:
        return out(ClubOut, await orgs.rename_club(db, actor, club_id, data.name))


class GroupChatController(Controller):
    path = "/group-chats"
    tags = ["group chats"]

    @get("/")
    async def list_group_chats(
        self,
        db: DB,
        actor: CurrentActor,
        organization_id: OptionalQueryId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PageOut[GroupChatOut]:
        page = await invites.list_group_chats(db, actor, organization_id, limit, offset)
        return page_out(GroupChatOut, page)

    @post("/invite")
    async def group_invite(
        self, db: DB, actor: CurrentActor, data: JSONBody[GroupInviteIn]
    ) -> InviteOut:
        """A `startgroup` deep link that registers a group chat for the organization or club."""
        link = await invites.group_invite(db, actor, data.organization_id, data.club_id)
        return out(InviteOut, link)


class AgreementController(Controller):
    path = "/agreements"
    tags = ["agreements"]

    @get("/")
    async def list_agreements(
        self, db: DB, actor: CurrentActor, limit: Limit = 100, offset: Offset = 0
    ) -> PageOut[AgreementOut]:
        page, parties = await agreements.list_agreements(db, actor, limit, offset)
        items = [out(AgreementOut, a, party_ids=parties[row_id(a)]) for a in page.items]
        return PageOut(items, page.total, page.limit, page.offset)

    @post("/")
    async def create_agreement(
        self, db: DB, actor: CurrentActor, data: JSONBody[AgreementIn]
    ) -> AgreementOut:
        agreement = await agreements.create_agreement(
            db,
            actor,
            title=data.title,
            lead_organization_id=data.lead_organization_id,
            party_ids=data.party_ids,
            signed_on=data.signed_on,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            document_url=data.document_url,
        )
        assert agreement.id is not None
        return await self.get_agreement.fn(self, db, actor, agreement.id)

    @get("/{agreement_id:int}")
    async def get_agreement(
        self, db: DB, actor: CurrentActor, agreement_id: PathId
    ) -> AgreementOut:
        agreement, parties = await agreements.get_agreement(db, actor, agreement_id)
        return out(AgreementOut, agreement, party_ids=parties)

    @put(
        "/{agreement_id:int}",
        guards=[policy.guard(policy.drafts_agreements, policy.AGREEMENT_REFUSED)],
    )
    async def update_agreement(
        self, db: DB, actor: CurrentActor, agreement_id: PathId, data: JSONBody[AgreementUpdate]
    ) -> AgreementOut:
        await agreements.update_agreement(db, actor, agreement_id, **msgspec.structs.asdict(data))
        return await self.get_agreement.fn(self, db, actor, agreement_id)


class ChannelController(Controller):
    path = "/channels"
    tags = ["channels"]

    @get("/")
    async def list_channels(
        self,
        db: DB,
        actor: CurrentActor,
        organization_id: OptionalQueryId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PageOut[ChannelOut]:
        page = await agreements.list_channels(db, actor, organization_id, limit, offset)
        return page_out(ChannelOut, page)

    @post("/")
    async def create_channel(
        self, db: DB, actor: CurrentActor, data: JSONBody[ChannelIn]
    ) -> ChannelOut:
        channel = await agreements.create_channel(
            db,
            actor,
            organization_id=data.organization_id,
            platform=data.platform,
            url=data.url,
            name=data.name,
        )
        return out(ChannelOut, channel)


CONTROLLERS = [
    OrganizationController,
    ClubController,
    GroupChatController,
    AgreementController,
    ChannelController,
]
