"""`policy.guard(question)` on the API router and on the page router: it refuses as each router
answers (problem JSON, the error page), sends the unauthenticated to sign-in (pages) or answers
401 (API), and the handler's `actor` is the very object the guard saw, resolved once."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar, Router, get
from litestar.connection import ASGIConnection
from litestar.testing import AsyncTestClient

from coordinator.auth import policy
from coordinator.auth import service as auth
from coordinator.auth.scope import Actor
from coordinator.http import CurrentActor
from coordinator.plugin import CoordinatorPlugin, api_router
from coordinator.settings import read_settings
from coordinator.web.pages import PAGES
from tests.factories import PASSWORD, World, build_world

seen: list[Actor] = []  # every actor the guard's question and the handler were given
resolved: list[str] = []  # one path per call of the router's resolver


def administers_seen(actor: Actor) -> bool:
    seen.append(actor)
    return policy.administers(actor)


@get("/probe", guards=[policy.guard(administers_seen)])
async def guarded_answer(actor: CurrentActor) -> dict[str, str]:
    seen.append(actor)
    return {"role": actor.role}


@get("/probe-page", guards=[policy.guard(administers_seen)])
async def guarded_page(actor: CurrentActor) -> str:
    seen.append(actor)
    return f"page for {actor.role}"


def counted(resolve: Callable[..., Any]) -> Callable[..., Any]:
    async def resolve_and_count(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
        resolved.append(connection.url.path)
        actor: Actor = await resolve(connection)
        return actor

    return resolve_and_count


def probe_app(world: World) -> Litestar:
    """The real app, plus a guarded route on a router configured as each real router is."""
    api = api_router()
    routers = [
        Router(
            path="/api/v1/test",
            route_handlers=[guarded_answer],
            dependencies=api.dependencies,
            opt={"resolve_actor": counted(api.opt["resolve_actor"])},
        ),
        Router(
            path="/test",
            route_handlers=[guarded_page],
            dependencies=PAGES.dependencies,
            opt={"resolve_actor": counted(PAGES.opt["resolve_actor"])},
            exception_handlers=PAGES.exception_handlers,
            include_in_schema=False,
        ),
    ]
    settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url})
    return Litestar(route_handlers=routers, plugins=[CoordinatorPlugin(settings)])


@pytest.fixture
async def client(db) -> AsyncIterator[Any]:
    world = await build_world(db)
    seen.clear()
    resolved.clear()
    async with AsyncTestClient(app=probe_app(world)) as test_client:
        test_client.world = world  # type: ignore[attr-defined]
        yield test_client


async def _bearer(client: Any, who: str) -> dict[str, str]:
    token = await auth.create_token(client.world.db, None, client.world.user_id[who], "tests")
    return {"Authorization": f"Bearer {token}"}


async def _sign_in(client: Any, username: str) -> None:
    await client.get("/signin")
    response = await client.post(
        "/signin",
        data={
            "username": username,
            "password": PASSWORD,
            "_csrf_token": client.cookies["coordinator_csrf"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _resolved_once_and_shared(path: str) -> None:
    assert resolved == [path]
    guard_saw, handler_got = seen
    assert guard_saw is handler_got


async def test_it_lets_the_api_handler_use_the_actor_the_guard_resolved(client):
    response = await client.get("/api/v1/test/probe", headers=await _bearer(client, "admin"))
    assert response.status_code == 200, response.text
    assert response.json() == {"role": "admin"}
    _resolved_once_and_shared("/api/v1/test/probe")


async def test_it_refuses_the_api_with_problem_json(client):
    response = await client.get("/api/v1/test/probe", headers=await _bearer(client, "coordinator"))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 403
    assert response.json()["code"] == "forbidden"
    assert len(seen) == 1  # the guard asked; the handler never ran


async def test_it_answers_401_to_the_api_without_a_token(client):
    response = await client.get("/api/v1/test/probe")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    assert seen == []


async def test_it_lets_the_page_handler_use_the_actor_the_guard_resolved(client):
    await _sign_in(client, "admin")
    resolved.clear()
    response = await client.get("/test/probe-page")
    assert response.status_code == 200, response.text
    assert response.text == "page for admin"
    _resolved_once_and_shared("/test/probe-page")


async def test_it_refuses_the_page_with_the_error_page(client):
    await _sign_in(client, "coordinator")
    response = await client.get("/test/probe-page")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text
    assert len(seen) == 1
    partial = await client.get("/test/probe-page", headers={"HX-Request": "true"})
    assert partial.status_code == 403
    assert "<html" not in partial.text  # htmx gets the error fragment


async def test_it_sends_a_page_without_a_session_to_sign_in(client):
    response = await client.get("/test/probe-page", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/test/probe-page"
    partial = await client.get("/test/probe-page", headers={"HX-Request": "true"})
    assert partial.status_code == 401
    assert partial.headers["HX-Redirect"] == "/signin?next=/test/probe-page"
    assert seen == []
