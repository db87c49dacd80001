"""The admins' audit log page: who did what, newest first, filtered by action."""

from __future__ import annotations

from litestar import get
from litestar.params import FromQuery
from litestar.response import Template

from coordinator.auth import policy
from coordinator.auth import service as auth
from coordinator.http import DB, CurrentActor, PageOffset
from coordinator.i18n import translate
from coordinator.web.context import AnyRequest, locale_of, page

PAGE = 50


@get("/audit", guards=[policy.guard(policy.administers)])
async def audit_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    action: FromQuery[str | None] = None,
    offset: PageOffset = 0,
) -> Template:
    lang = locale_of(request)
    events = await auth.list_audit(db, actor, action, PAGE, max(offset, 0))
    return page(
        request,
        "auth/audit.html",
        title=translate(lang, "Audit log"),
        actor=actor,
        events=events,
        action=action or "",
    )


ROUTES = [audit_page]
