"""Connecting one's own Telegram for the digests, and disconnecting it."""

from __future__ import annotations

from litestar import get, post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.bots.identity import BotNotKnown
from coordinator.http import DB, CurrentActor
from coordinator.i18n import translate
from coordinator.organizations import invites, onboarding
from coordinator.web.context import AnyRequest, bot_not_ready, flash, locale_of, page, redirect

DIGEST_READERS = [policy.guard(policy.connects_own_telegram)]


@get("/digests", guards=DIGEST_READERS)
async def telegram_page(request: AnyRequest, db: DB, actor: CurrentActor) -> Template:
    return await _telegram(request, db, actor, link=None)


async def _telegram(
    request: AnyRequest, db: DB, actor: CurrentActor, link: invites.InviteLink | None
) -> Template:
    assert actor.user_id is not None
    return page(
        request,
        "auth/telegram.html",
        title=translate(locale_of(request), "My Telegram"),
        actor=actor,
        linked=await onboarding.user_linked(db, actor.user_id),
        link=link,
    )


@post("/digests/link", guards=DIGEST_READERS)
async def telegram_link(request: AnyRequest, db: DB, actor: CurrentActor) -> Template | Redirect:
    try:
        link = await invites.user_invite(db, actor)
    except BotNotKnown:
        return bot_not_ready(request, "/digests")
    return await _telegram(request, db, actor, link)


@post("/digests/unlink", guards=DIGEST_READERS)
async def telegram_unlink(request: AnyRequest, db: DB, actor: CurrentActor) -> Redirect:
    assert actor.user_id is not None
    await onboarding.unlink_user(db, actor.user_id)
    flash(request, "Telegram disconnected: no more digests.")
    return redirect("/digests")


ROUTES = [telegram_page, telegram_link, telegram_unlink]
