"""The outbox page (admins): counts, dead letters and uncertain rows, and a Retry for each."""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.delivery import review
from coordinator.http import DB, CurrentActor, PageOffset, PathId
from coordinator.i18n import translate
from coordinator.web.context import AnyRequest, flash, locale_of, page, redirect

PAGE = 50


@get("/outbox")
async def outbox_page(
    request: AnyRequest, db: DB, actor: CurrentActor, offset: PageOffset = 0
) -> Template:
    summary = await review.summary(db, actor)
    rows = await review.troubled(db, actor, PAGE, max(offset, 0))
    return page(
        request,
        "delivery/outbox.html",
        title=translate(locale_of(request), "Outbox"),
        actor=actor,
        summary=summary,
        rows=rows,
    )


@post("/outbox/{row_id:int}/retry")
async def retry_row(request: AnyRequest, db: DB, actor: CurrentActor, row_id: PathId) -> Redirect:
    await review.retry(db, actor, row_id)
    flash(request, "Message {id} is queued again.", id=row_id)
    return redirect("/outbox")


ROUTES = [outbox_page, retry_row]
