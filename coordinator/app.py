"""create_app(): plugins, routes, lifespan; nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from coordinator.auth.api import CONTROLLERS as AUTH_API
from coordinator.bots.api import CONTROLLERS as OUTBOX_API
from coordinator.bots.webhook import telegram_webhook
from coordinator.campaigns.api import CONTROLLERS as CAMPAIGN_API
from coordinator.db import Database
from coordinator.errors import DomainError
from coordinator.http import (
    actor_from_bearer,
    document_problems,
    problem_from_crash,
    problem_from_deep_json,
    problem_from_domain,
    problem_from_http,
    provide_actor,
    provide_db,
)
from coordinator.logs import quiet_libraries
from coordinator.organizations.api import CONTROLLERS as ORGANIZATION_API
from coordinator.organizations.members_api import CONTROLLERS as MEMBER_API
from coordinator.scrape import ROUTES as METRICS_ROUTES
from coordinator.settings import Settings, get_settings
from coordinator.tallies.api import CONTROLLERS as TALLY_API
from coordinator.web import filters
from coordinator.web.edge import edge
from coordinator.web.pages import PAGES, PUBLIC_PAGES
from coordinator.web.security import (
    DatabaseStore,
    csrf_config,
    security_headers,
    session_config,
)

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, *, sandbox_url: str | None = None) -> Litestar:
    """The web app; `sandbox_url` (the in-process Bot API sandbox) enables the simulator."""
    settings = settings or get_settings()
    quiet_libraries()
    db = Database(settings.database_url)

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
    problems = ProblemDetailsConfig(
        exception_to_problem_detail_map={
            DomainError: problem_from_domain,
            HTTPException: problem_from_http,
            RecursionError: problem_from_deep_json,
            Exception: problem_from_crash,
        }
    )
    app = Litestar(
        route_handlers=[
            api,
            telegram_webhook,
            *METRICS_ROUTES,
            PAGES,
            Router(path="/", route_handlers=PUBLIC_PAGES, include_in_schema=False),
            create_static_files_router(
                "/static", [ROOT / "static"], cache_control=CacheControlHeader(max_age=3600)
            ),
        ],
        dependencies={"db": Provide(provide_db)},
        lifespan=[lifespan],
        plugins=[ProblemDetailsPlugin(problems)],
        middleware=[edge(settings), session_config(settings.https).middleware],
        before_send=[security_headers(settings.https)],
        csrf_config=csrf_config(settings.secret_key, settings.https),
        stores={"sessions": DatabaseStore(db)},
        template_config=TemplateConfig(
            directory=ROOT / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: filters.install(engine.engine, settings),
        ),
        openapi_config=OpenAPIConfig(
            title="Coordinator API", version="1", path="/schema", render_plugins=[]
        ),
    )
    document_problems(app)
    return app
