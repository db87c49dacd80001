"""The browser pages: one router with the signed-in actor, plus the public pages."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from coordinator import health
from coordinator.auth import web as auth_web
from coordinator.auth.actors import actor_from_session, provide_actor
from coordinator.bots import web as bots_web
from coordinator.campaigns import web as campaigns_web
from coordinator.delivery import web as delivery_web
from coordinator.errors import DomainError
from coordinator.organizations import web as organizations_web
from coordinator.sandbox import web as sandbox_web
from coordinator.tallies import web as tallies_web
from coordinator.web.context import (
    SecondFactorSetupRequired,
    SignInRequired,
    domain_error_page,
    second_factor_setup,
    sign_in_required,
)

PAGES = Router(
    path="/",
    route_handlers=[
        *tallies_web.ROUTES,
        *auth_web.ROUTES,
        *organizations_web.ROUTES,
        *campaigns_web.ROUTES,
        *sandbox_web.ROUTES,
        *delivery_web.ROUTES,
        *bots_web.ROUTES,
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
