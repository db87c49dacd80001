"""The browser pages: one router with the signed-in actor, plus the public pages."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get
from litestar.di import Provide
from litestar.response import Template

from coordinator import health
from coordinator.auth import web as auth_web
from coordinator.auth.actors import actor_from_session, provide_actor
from coordinator.campaigns import service as campaigns
from coordinator.campaigns import web as campaigns_web
from coordinator.delivery import web as delivery_web
from coordinator.errors import DomainError
from coordinator.http import DB, CurrentActor
from coordinator.i18n import translate
from coordinator.organizations import web as organizations_web
from coordinator.sandbox import web as sandbox_web
from coordinator.tallies.service import progress_of
from coordinator.web import (
    campaign_pages,
    tally_pages,
)
from coordinator.web.context import (
    SecondFactorSetupRequired,
    SignInRequired,
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
        *organizations_web.ROUTES,
        *campaign_pages.PAGES,
        *campaigns_web.ROUTES,
        *sandbox_web.ROUTES,
        *tally_pages.PAGES,
        *delivery_web.PAGES,
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
