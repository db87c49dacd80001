"""The browser pages: one router with the signed-in actor, plus the public pages."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get
from litestar.di import Provide
from litestar.response import Template

from coordinator import health
from coordinator.auth import web as auth_web
from coordinator.campaigns import service as campaigns
from coordinator.campaigns import web as campaigns_web
from coordinator.errors import DomainError
from coordinator.http import DB, CurrentActor, provide_actor
from coordinator.i18n import translate
from coordinator.organizations.web import agreements as agreement_pages
from coordinator.tallies.service import progress_of
from coordinator.web import (
    campaign_pages,
    org_pages,
    outbox_pages,
    simulator,
    tally_pages,
)
from coordinator.web.context import (
    SecondFactorSetupRequired,
    SignInRequired,
    actor_from_session,
    domain_error_page,
    locale_of,
    page,
    second_factor_setup,
    sign_in_required,
)


@get("/")
async def dashboard(request: Request[Any, Any, Any], db: DB, actor: CurrentActor) -> Template:
    lang = locale_of(request)
    recent = await campaigns.list_campaigns(db, actor, None, 10, 0)
    progress = await progress_of(db, actor, [c.id for c in recent.items if c.id is not None])
    return page(
        request,
        "pages/dashboard.html",
        title=translate(lang, "Dashboard"),
        actor=actor,
        campaigns=recent,
        progress=progress,
    )


PAGES = Router(
    path="/",
    route_handlers=[
        dashboard,
        *auth_web.ROUTES,
        *org_pages.PAGES,
        *agreement_pages.ROUTES,
        *campaign_pages.PAGES,
        *campaigns_web.ROUTES,
        *simulator.PAGES,
        *tally_pages.PAGES,
        *outbox_pages.PAGES,
    ],
    dependencies={"actor": Provide(provide_actor)},
    opt={"resolve_actor": actor_from_session},
    exception_handlers={
        SignInRequired: sign_in_required,
        SecondFactorSetupRequired: second_factor_setup,
        DomainError: domain_error_page,
    },
    include_in_schema=False,
)
PUBLIC_PAGES = [*health.ROUTES, *auth_web.PUBLIC]
