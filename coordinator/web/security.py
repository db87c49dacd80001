"""Browser security: server-side sessions that rotate at sign-in, CSRF, headers, throttling."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import Message, Scope
from litestar.types.empty import Empty
from litestar.utils.dataclass import extract_dataclass_items

ROTATE = "_rotate"
LOADED = "coordinator.session_loaded"  # the session as read, to skip writing it back unchanged
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


class RotatingSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, plus: a session marked `_rotate` gets a fresh id and the
    old id is deleted, so a session id planted before sign-in is worthless after it."""

    async def store_in_message(
        self, scope_session: Any, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if (
            scope_session is not Empty
            and not scope_session
            and not connection.cookies.get(self.config.key)
        ):
            return  # nothing to keep for an anonymous visitor: no cookie, no file per request
        if scope_session is Empty or not scope_session.pop(ROTATE, False):
            if scope_session is not Empty and self._unchanged(scope_session, connection):
                return  # the cookie is still right and the stored session the same: no write
            await super().store_in_message(scope_session, message, connection)
            return
        store = self.config.get_store_from_app(connection.scope["app"])
        old = connection.cookies.get(self.config.key)
        if old:
            await self.delete(old, store=store)
        session_id = self.generate_session_id()
        await self.set(session_id, self.serialize_data(scope_session, connection.scope), store)
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


def session_config(secure: bool) -> RotatingSessionConfig:
    return RotatingSessionConfig(
        key="coordinator_session",
        max_age=12 * 3600,
        httponly=True,
        samesite="lax",
        secure=secure,
        exclude=["^/api/", "^/telegram/", "^/static/", "^/health$", "^/schema"],
    )


def csrf_config(secret: str, secure: bool) -> CSRFConfig:
    # The API authenticates with bearer tokens (no cookies), so it has nothing to forge.
    return CSRFConfig(
        secret=secret,
        cookie_name="coordinator_csrf",
        cookie_secure=secure,
        cookie_samesite="lax",
        exclude=["^/api/", "^/telegram/webhook"],
    )


async def security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the same headers on every response, 404s and errors included."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in HEADERS:
            headers[name] = value


@dataclass
class Throttle:
    """Failed sign-ins per key (account, address) in a sliding window, kept in this process."""

    limit: int
    window: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        now = time.monotonic() if now is None else now
        times = self._recent(key, now)
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window - now

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(key, now).append(now)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
