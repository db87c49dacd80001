"""Who is acting in a request: the bearer token's user for the API, the session's for pages.

Each router names its resolver in `opt["resolve_actor"]`; `policy.actor_of` calls it once per
request, and `provide_actor` hands that same actor to the handlers as their `actor` dependency.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

from coordinator.auth import policy
from coordinator.auth.models import User
from coordinator.auth.scope import Actor, actor_for
from coordinator.auth.service import actor_from_token
from coordinator.db import Database


class SignInRequired(Exception):
    """No signed-in user: pages answer with the sign-in page."""


class SecondFactorSetupRequired(Exception):
    """The user's role must use a second factor and they have none yet."""


# What a user who must first set up a second factor may still open.
SETUP_PATHS = ("/account/mfa", "/signout", "/language")


async def actor_from_bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The bearer token's user: how the API router resolves its actor (`policy.actor_of`)."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            "Send an API token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    actor = await actor_from_token(connection.app.state.db, token.strip())
    if actor is None:
        raise NotAuthorizedException(
            "The API token is unknown or revoked.", headers={"WWW-Authenticate": "Bearer"}
        )
    return actor


async def actor_from_session(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The signed-in user of this browser session, checked against the database each time:
    how the page router resolves its actor (`policy.actor_of`)."""
    user_id = connection.session.get("user_id")
    if not isinstance(user_id, int):
        raise SignInRequired
    db: Database = connection.app.state.db
    async with db.read() as session:
        user = await session.get(User, user_id)
        if user is None or not user.active:
            connection.clear_session()
            raise SignInRequired
        if connection.session.get("mfa_setup") and not connection.url.path.startswith(SETUP_PATHS):
            raise SecondFactorSetupRequired
        return await actor_for(session, user)


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The acting user, resolved once per request by the router's resolver."""
    return await policy.actor_of(request)
