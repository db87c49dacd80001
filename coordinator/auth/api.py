"""JSON routes: the current user, users and roles, API tokens, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import JSONBody

from coordinator.auth import service as auth
from coordinator.http import DB, CurrentActor, Id, Limit, Offset, PageOut, PathId, out, page_out


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    role: str
    organization_id: Id


class RolePatch(msgspec.Struct, forbid_unknown_fields=True):
    role: str


class UserOut(msgspec.Struct):
    id: int
    username: str
    role: str
    organization_id: int
    active: bool


class MeOut(msgspec.Struct):
    user_id: int | None
    role: str
    organization_id: int


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class TokenOut(msgspec.Struct):
    token: str
    note: str = "Shown once. Store it as a secret; only its digest is kept."


class AuditOut(msgspec.Struct):
    id: int
    at: datetime
    actor_user_id: int | None
    action: str
    object_type: str
    object_id: int | None
    detail: dict[str, Any]


class UserController(Controller):
    path = "/"
    tags = ["users"]

    @get("/me")
    async def me(self, actor: CurrentActor) -> MeOut:
        return out(MeOut, actor)

    @get("/users")
    async def list_users(
        self, db: DB, actor: CurrentActor, limit: Limit = 100, offset: Offset = 0
    ) -> PageOut[UserOut]:
        return page_out(UserOut, await auth.list_users(db, actor, None, limit, offset))

    @post("/users")
    async def create_user(self, db: DB, actor: CurrentActor, data: JSONBody[UserIn]) -> UserOut:
        user = await auth.create_user(
            db,
            actor,
            username=data.username,
            password=data.password,
            role=data.role,
            organization_id=data.organization_id,
        )
        return out(UserOut, user)

    @patch("/users/{user_id:int}")
    async def set_role(
        self, db: DB, actor: CurrentActor, user_id: PathId, data: JSONBody[RolePatch]
    ) -> UserOut:
        return out(UserOut, await auth.set_role(db, actor, user_id, data.role))

    @post("/users/{user_id:int}/tokens")
    async def create_token(
        self, db: DB, actor: CurrentActor, user_id: PathId, data: JSONBody[TokenIn]
    ) -> TokenOut:
        return TokenOut(await auth.create_token(db, actor, user_id, data.name))

    @get("/audit-events")
    async def audit_events(
        self, db: DB, actor: CurrentActor, limit: Limit = 100, offset: Offset = 0
    ) -> PageOut[AuditOut]:
        return page_out(AuditOut, await auth.list_audit(db, actor, None, limit, offset))


CONTROLLERS = [UserController]
