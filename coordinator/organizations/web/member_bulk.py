"""Bulk actions from the filtered members list: move, deactivate, send invitations.

Every chosen member takes the action or none does; the list says what happened ("12 moved")
or who refused it and why."""

from __future__ import annotations

from litestar import post
from litestar.response import Redirect, Template

from coordinator.auth import policy
from coordinator.bots.identity import BotNotKnown
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor
from coordinator.i18n import translate
from coordinator.organizations import member_bulk
from coordinator.organizations.member_bulk import BulkRefused
from coordinator.organizations.web.sheets import invite_sheet_page
from coordinator.web.context import (
    AnyRequest,
    Form,
    bot_not_ready,
    flash,
    form_int,
    form_ints,
    locale_of,
    redirect,
)

MANAGERS = [policy.guard(policy.manages_people)]
DONE = {
    "move": "{count} moved.",
    "deactivate": "{count} deactivated.",
}


def _back(data: dict[str, object]) -> str:
    """Back to the list as it was filtered; only ever a members-list address."""
    back = str(data.get("back", ""))
    return back if back.startswith("/members?") and "//" not in back else "/members"


def _refused(request: AnyRequest, exc: Invalid) -> None:
    lang = locale_of(request)
    if isinstance(exc, BulkRefused):
        names = "; ".join(f"{r.name} ({translate(lang, r.reason)})" for r in exc.refusals)
        flash(
            request,
            "Nothing was done: {count} refused: {names}",
            "error",
            count=len(exc.refusals),
            names=names,
        )
        return
    details = "; ".join(translate(lang, str(e.get("message", ""))) for e in exc.errors)
    flash(request, "Nothing was done: {names}", "error", names=details or exc.detail)


@post("/members/bulk", guards=MANAGERS)
async def bulk_members(
    request: AnyRequest, db: DB, actor: CurrentActor, data: Form
) -> Template | Redirect:
    action = str(data.get("action", ""))
    ids = form_ints(data.get("member_ids", []))
    back = _back(data)
    try:
        if action == "move":
            target = form_int(data.get("organization_id"))
            if target is None:
                raise Invalid(
                    "Choose an organization.",
                    errors=[{"field": "organization_id", "message": "choose an organization"}],
                )
            count = await member_bulk.move_members(db, actor, ids, target)
        elif action == "deactivate":
            count = await member_bulk.deactivate_members(db, actor, ids)
        elif action == "invite":
            sheet = await member_bulk.invite_members(db, actor, ids)
            lang = locale_of(request)
            return invite_sheet_page(
                request,
                actor,
                translate(lang, "Invitation"),
                (back, translate(lang, "Members")),
                [(m.display_name, link) for m, link in sheet],
            )
        else:
            raise Invalid(
                "Choose an action.", errors=[{"field": "action", "message": "choose an action"}]
            )
    except BotNotKnown:
        return bot_not_ready(request, back)
    except Invalid as exc:
        _refused(request, exc)
        return redirect(back)
    flash(request, DONE[action], count=count)
    return redirect(back)


ROUTES = [bulk_members]
