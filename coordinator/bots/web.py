"""The bots page (admins): each bot, the subtree it serves and whether its lanes run."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from coordinator.auth import policy
from coordinator.bots.lanes import bot_lanes
from coordinator.http import DB, CurrentActor
from coordinator.i18n import translate
from coordinator.web.context import AnyRequest, locale_of, page


@get("/bots", guards=[policy.guard(policy.administers)])
async def bots_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return page(
        request,
        "bots/bots.html",
        title=translate(locale_of(request), "Bots"),
        actor=actor,
        lanes=await bot_lanes(db, request.app.state.settings),
    )


ROUTES = [bots_page]
