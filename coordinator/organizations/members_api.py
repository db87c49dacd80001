"""JSON routes: members, their invite links, and bulk import."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import JSONBody, MultipartBody

from coordinator.base import row_id
from coordinator.errors import Invalid
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
    QueryId,
    out,
)
from coordinator.organizations import importer, invites, members
from coordinator.organizations.api import InviteOut


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    organization_id: Id
    display_name: str
    code: str | None = None
    locale: str = "vi"
    club_ids: list[Id] = []


class MemberPatch(msgspec.Struct, forbid_unknown_fields=True):
    display_name: str | None = None
    code: str | None = None
    locale: str | None = None
    club_ids: list[Id] | None = None
    organization_id: OptionalId = None


class MemberOut(msgspec.Struct):
    id: int
    organization_id: int
    display_name: str
    code: str | None
    locale: str
    linked: bool
    opted_out_at: datetime | None
    unreachable_at: datetime | None
    deactivated_at: datetime | None
    club_ids: list[int]


class ImportWarningOut(msgspec.Struct):
    line: int
    field: str
    start: str
    message: str


class ImportOut(msgspec.Struct):
    created: int
    updated: int
    unchanged: int
    warnings: list[ImportWarningOut]


class ImportForm(msgspec.Struct):
    file: UploadFile


def member_out(member: Any, club_ids: list[int]) -> MemberOut:
    return out(
        MemberOut, member, linked=member.telegram_user_id is not None, club_ids=sorted(club_ids)
    )


class MemberController(Controller):
    path = "/members"
    tags = ["members"]

    @get("/")
    async def list_members(
        self,
        db: DB,
        actor: CurrentActor,
        organization_id: OptionalQueryId = None,
        club_id: OptionalQueryId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> PageOut[MemberOut]:
        page, clubs = await members.list_members(
            db, actor, organization_id=organization_id, club_id=club_id, limit=limit, offset=offset
        )
        items = [member_out(m, clubs[row_id(m)]) for m in page.items]
        return PageOut(items, page.total, page.limit, page.offset)

    @post("/")
    async def create_member(
        self, db: DB, actor: CurrentActor, data: JSONBody[MemberIn]
    ) -> MemberOut:
        member = await members.create_member(
            db,
            actor,
            organization_id=data.organization_id,
            display_name=data.display_name,
            code=data.code,
            locale=data.locale,
            club_ids=data.club_ids,
        )
        return member_out(member, data.club_ids)

    @get("/{member_id:int}")
    async def get_member(self, db: DB, actor: CurrentActor, member_id: PathId) -> MemberOut:
        return member_out(*await members.get_member(db, actor, member_id))

    @patch("/{member_id:int}")
    async def update_member(
        self, db: DB, actor: CurrentActor, member_id: PathId, data: JSONBody[MemberPatch]
    ) -> MemberOut:
        await members.update_member(
            db,
            actor,
            member_id,
            display_name=data.display_name,
            code=data.code,
            locale=data.locale,
            club_ids=data.club_ids,
            organization_id=data.organization_id,
        )
        return member_out(*await members.get_member(db, actor, member_id))

    @post("/{member_id:int}/deactivate")
    async def deactivate_member(self, db: DB, actor: CurrentActor, member_id: PathId) -> MemberOut:
        await members.deactivate_member(db, actor, member_id)
        return member_out(*await members.get_member(db, actor, member_id))

    @post("/{member_id:int}/invite")
    async def invite_member(self, db: DB, actor: CurrentActor, member_id: PathId) -> InviteOut:
        """A single-use `start` deep link that links the member's own Telegram account."""
        return out(InviteOut, await invites.member_invite(db, actor, member_id))

    @post("/import")
    async def import_members(
        self,
        db: DB,
        actor: CurrentActor,
        organization_id: QueryId,
        data: MultipartBody[ImportForm],
    ) -> ImportOut:
        """Import a CSV or XLSX file: every row or none. Errors list the file's line numbers;
        `warnings` list values that start like a spreadsheet formula (kept as typed)."""
        upload = data.file
        if not isinstance(upload, UploadFile):
            raise Invalid("Attach the file as the multipart field 'file'.")
        content = await upload.read(importer.MAX_BYTES + 1)
        result = await importer.import_members(
            db, actor, organization_id, content, upload.filename or ""
        )
        warnings = [ImportWarningOut(**w) for w in result.warnings]
        return out(ImportOut, result, warnings=warnings)


CONTROLLERS = [MemberController]
