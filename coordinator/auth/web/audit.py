"""The admins' audit log page: who did what, newest first, filtered by action, as sentences."""

from __future__ import annotations

from litestar import get
from litestar.params import FromQuery
from litestar.response import Template

from coordinator.auth import policy
from coordinator.auth import service as auth
from coordinator.auth.web import audit_lines
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
    async with db.read() as session:
        names = await audit_lines.names_of(session, events.items)
    return page(
        request,
        "auth/audit.html",
        title=translate(lang, "Audit log"),
        actor=actor,
        events=events,
        lines=[audit_lines.line(lang, e, names) for e in events.items],
        action=action or "",
    )


ROUTES = [audit_page]
