"""Browser security: sessions kept in the database that rotate at sign-in, CSRF, headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Message, Scope
from litestar.types.empty import Empty
from litestar.utils.dataclass import extract_dataclass_items

from coordinator.auth import sessions
from coordinator.db import Database

ROTATE = "_rotate"
LOADED = "coordinator.session_loaded"  # the session as read, to skip writing it back unchanged
SIGNED_IN_KEYS = ("user_id", "username")  # never carried over into a replacement session
SESSION_COOKIE = "coordinator_session"
# No inline scripts or styles anywhere: htmx is configured (base.html) not to inject its own.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ("cross-origin-opener-policy", "same-origin"),
]


class DatabaseStore(Store):
    """Litestar's `Store` over the `web_session` table (coordinator.auth.sessions), so every
    web process sees the same sessions. The backend below calls `open`/`keep` to record the
    user and client of a session; the generic methods serve anything else Litestar asks."""

    PURGE_EVERY = 60.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._next_purge = 0.0

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        if not await sessions.store(self.db, key, data, None):
            await self.open(key, data, None, None, expires_in)

    async def open(
        self,
        key: str,
        data: bytes,
        user_id: int | None,
        client: sessions.Client | None,
        expires_in: int | timedelta | None = None,
    ) -> None:
        """A new session. Expired ones are purged now and then on the way."""
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + self.PURGE_EVERY
            await sessions.purge_expired(self.db)
        if isinstance(expires_in, int):
            expires_in = timedelta(seconds=expires_in)
        lifetime = expires_in or sessions.LIFETIME
        await sessions.create(self.db, key, data, user_id, client, lifetime)

    async def keep(self, key: str, data: bytes, client: sessions.Client) -> bool:
        return await sessions.store(self.db, key, data, client)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await sessions.load(self.db, key)

    async def delete(self, key: str) -> None:
        await sessions.remove(self.db, key)

    async def delete_all(self) -> None:
        await sessions.remove_all(self.db)

    async def exists(self, key: str) -> bool:
        return await sessions.seconds_left(self.db, key) is not None

    async def expires_in(self, key: str) -> int | None:
        return await sessions.seconds_left(self.db, key)


def client_of(connection: ASGIConnection[Any, Any, Any, Any]) -> sessions.Client:
    agent = connection.headers.get("user-agent", "")
    return sessions.Client(agent, connection.client.host if connection.client else "")


class RotatingSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, plus:
    - a session marked `_rotate` gets a fresh id and the old id is deleted, so a session id
      planted before sign-in is worthless after it;
    - an existing session is only updated, never re-created: one ended elsewhere (sign-out on
      another process, a password reset) stays ended even if a request of it was in flight;
      what that request still had to keep (language, messages) goes into a new anonymous one.
    """

    async def store_in_message(
        self, scope_session: Any, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        old = connection.cookies.get(self.config.key)
        old = old if old and old != "null" else None
        if scope_session is not Empty and not scope_session and old is None:
            return  # nothing to keep for an anonymous visitor: no cookie, no row per request
        if scope_session is Empty:
            await super().store_in_message(scope_session, message, connection)
            return
        store: DatabaseStore = self.config.get_store_from_app(connection.scope["app"])  # type: ignore[assignment]
        rotate = scope_session.pop(ROTATE, False)
        if old is not None and not rotate:
            if self._unchanged(scope_session, connection):
                return  # the cookie is still right and the stored session the same: no write
            data = self.serialize_data(scope_session, connection.scope)
            if await store.keep(old, data, client_of(connection)):
                return
            for key in SIGNED_IN_KEYS:
                scope_session.pop(key, None)
            if not scope_session:  # nothing left worth a session: clear the stale cookie
                await super().store_in_message(Empty, message, connection)
                return
        elif old is not None:
            await store.delete(old)
        session_id = self.generate_session_id()
        data = self.serialize_data(scope_session, connection.scope)
        user_id = scope_session.get("user_id")
        await store.open(
            session_id, data, user_id if isinstance(user_id, int) else None, client_of(connection)
        )
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        cookie = Cookie(value=session_id, key=self.config.key, **params)
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))

    def _unchanged(
        self, scope_session: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> bool:
        loaded = connection.scope.get("state", {}).get(LOADED)
        return loaded is not None and loaded == self.serialize_data(scope_session, connection.scope)

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        if data:
            connection.scope.setdefault("state", {})[LOADED] = self.serialize_data(
                data, connection.scope
            )
        return data


@dataclass
class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def cookie_name(name: str, https: bool) -> str:
    """Under HTTPS the `__Host-` prefix: the browser then only accepts the cookie when it is
    Secure, for path / and without a Domain, so no sibling subdomain can set or shadow it."""
    return f"__Host-{name}" if https else name


def session_config(https: bool) -> RotatingSessionConfig:
    return RotatingSessionConfig(
        key=cookie_name(SESSION_COOKIE, https),
        max_age=int(sessions.LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=https,
        path="/",
        exclude=["^/api/", "^/telegram/", "^/static/", "^/health$", "^/schema"],
    )


def csrf_config(secret: str, https: bool) -> CSRFConfig:
    # The API authenticates with bearer tokens (no cookies), so it has nothing to forge.
    return CSRFConfig(
        secret=secret,
        cookie_name=cookie_name("coordinator_csrf", https),
        cookie_secure=https,
        cookie_samesite="lax",
        cookie_path="/",
        exclude=["^/api/", "^/telegram/webhook"],
    )


HSTS = ("strict-transport-security", "max-age=31536000; includeSubDomains")


def security_headers(https: bool) -> Callable[[Message, Scope], Any]:
    """A `before_send` hook: the same headers on every response, 404s and errors included;
    HSTS (one year, subdomains too) when the site is served over HTTPS."""
    headers_to_set = [*HEADERS, HSTS] if https else HEADERS

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            for name, value in headers_to_set:
                headers[name] = value

    return hook


def session_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """This browser's session id (from its cookie), to tell its own row among the user's."""
    https = connection.app.state.settings.https
    value = connection.cookies.get(cookie_name(SESSION_COOKIE, https))
    return value if value and value != "null" else None
