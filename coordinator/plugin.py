"""The app's wiring as one Litestar plugin: config, routes, stores, lifespan, problems, templates.

`on_app_init` imports what it wires inside itself, so importing this module (and the CLI that
names it) stays cheap; only building the app loads the web, the slices' routes and Jinja.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar.plugins import InitPluginProtocol

if TYPE_CHECKING:
    from litestar import Litestar, Router
    from litestar.config.app import AppConfig
    from litestar.plugins.problem_details import ProblemDetailsPlugin
    from litestar.template.config import TemplateConfig

    from coordinator.db import Database
    from coordinator.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class CoordinatorPlugin(InitPluginProtocol):
    """Everything `create_app` used to spell out; `sandbox_url` enables the simulator.

    The Host check is not wired here: middleware runs only on matched routes, so
    `create_app` puts `coordinator.web.edge.guard` around the whole app instead.
    """

    def __init__(self, settings: Settings, sandbox_url: str | None = None) -> None:
        self.settings = settings
        self.sandbox_url = sandbox_url

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Wire the app (litestar-fullstack's `ApplicationCore` shape)."""
        from litestar.di import Provide
        from litestar.openapi.config import OpenAPIConfig

        from coordinator.db import Database
        from coordinator.http import provide_db
        from coordinator.logs import quiet_libraries
        from coordinator.web.security import (
            DatabaseStore,
            csrf_config,
            security_headers,
            session_config,
        )

        settings = self.settings
        quiet_libraries()
        db = Database(settings.database_url)
        app_config.route_handlers.extend(routes())
        app_config.dependencies["db"] = Provide(provide_db)
        app_config.lifespan.append(self.lifespan(db))
        app_config.plugins.append(problem_details())
        app_config.middleware.append(session_config(settings.https).middleware)
        app_config.before_send.append(security_headers(settings.https))
        app_config.csrf_config = csrf_config(settings.secret_key, settings.https)
        app_config.stores = {"sessions": DatabaseStore(db)}
        app_config.template_config = templates(settings)
        app_config.openapi_config = OpenAPIConfig(
            title="Coordinator API", version="1", path="/schema", render_plugins=[]
        )
        return app_config

    def lifespan(self, db: Database) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
        settings, sandbox_url = self.settings, self.sandbox_url

        @asynccontextmanager
        async def lifespan(app: Litestar) -> AsyncIterator[None]:
            app.state.db = db
            app.state.settings = settings
            app.state.sandbox_url = sandbox_url
            if not settings.mfa_admins_required:
                logging.getLogger("coordinator").warning(
                    "COORDINATOR_MFA_ADMINS=optional: admins may sign in without a second factor"
                )
            try:
                yield
            finally:
                await db.dispose()

        return lifespan


def routes() -> list[Any]:
    """The JSON API, the Telegram webhook, the metrics, the pages and the static files."""
    from litestar import Router
    from litestar.datastructures import CacheControlHeader
    from litestar.static_files import create_static_files_router

    from coordinator.bots.webhook import bot_webhook, telegram_webhook
    from coordinator.scrape import ROUTES as METRICS_ROUTES
    from coordinator.web.pages import PAGES, PUBLIC_PAGES

    return [
        api_router(),
        telegram_webhook,
        bot_webhook,
        *METRICS_ROUTES,
        PAGES,
        Router(path="/", route_handlers=PUBLIC_PAGES, include_in_schema=False),
        create_static_files_router(
            "/static", [ROOT / "static"], cache_control=CacheControlHeader(max_age=3600)
        ),
    ]


def api_router() -> Router:
    """`/api/v1`: every slice's controllers, the actor from the bearer token, and the problem
    answers documented on each operation."""
    from litestar import Router
    from litestar.di import Provide

    from coordinator.auth.actors import actor_from_bearer, provide_actor
    from coordinator.auth.api import CONTROLLERS as AUTH_API
    from coordinator.campaigns.api import CONTROLLERS as CAMPAIGN_API
    from coordinator.delivery.api import CONTROLLERS as OUTBOX_API
    from coordinator.http import document_problems
    from coordinator.organizations.api import CONTROLLERS as ORGANIZATION_API
    from coordinator.organizations.members_api import CONTROLLERS as MEMBER_API
    from coordinator.tallies.api import CONTROLLERS as TALLY_API

    api = Router(
        path="/api/v1",
        route_handlers=[
            *ORGANIZATION_API,
            *MEMBER_API,
            *CAMPAIGN_API,
            *AUTH_API,
            *TALLY_API,
            *OUTBOX_API,
        ],
        dependencies={"actor": Provide(provide_actor)},
        opt={"resolve_actor": actor_from_bearer},
    )
    document_problems(api)
    return api


def problem_details() -> ProblemDetailsPlugin:
    """RFC 9457 answers for service refusals, HTTP errors, too-deep JSON and crashes."""
    from litestar.exceptions import HTTPException
    from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

    from coordinator.errors import DomainError
    from coordinator.http import (
        problem_from_crash,
        problem_from_deep_json,
        problem_from_domain,
        problem_from_http,
    )

    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                DomainError: problem_from_domain,
                HTTPException: problem_from_http,
                RecursionError: problem_from_deep_json,
                Exception: problem_from_crash,
            }
        )
    )


def templates(settings: Settings) -> TemplateConfig[Any]:
    """Jinja over `templates/`, with the shared filters and globals installed."""
    from litestar.plugins.jinja import JinjaTemplateEngine
    from litestar.template.config import TemplateConfig

    from coordinator.web import filters

    return TemplateConfig(
        directory=ROOT / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine: filters.install(engine.engine, settings),
    )
