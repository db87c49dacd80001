"""In front of every request, routed or not: the Host allow-list, and whose forwarded headers
to believe."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from litestar import Litestar
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from coordinator.settings import Network, Settings
from coordinator.web.security import HEADERS


def real_client(peer: str, forwarded_for: str | None, proxies: Iterable[Network]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy; then walk
    X-Forwarded-For from the right (each hop appends the address it saw) past trusted
    proxies. Entries left of the first untrusted hop are the client's own say-so: ignored."""
    proxies = tuple(proxies)
    address = peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    while _trusted(address, proxies) and hops:
        candidate = hops.pop()
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            break  # not written by a proxy of ours: keep the last address we can vouch for
        address = candidate
    return address


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def host_allowed(host_header: str, allowed: Iterable[str]) -> bool:
    """The Host header's name (port and IPv6 brackets dropped) is one of `allowed`."""
    allowed = tuple(allowed)
    if "*" in allowed:
        return True
    name = host_header.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else ""
    else:
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return bool(name) and name in allowed


HEALTH_PATHS = ("/health", "/health/ready", "/metrics")  # scrapers ask by address


class Edge:
    """In front of every request: answers 400 to a Host not served here, and believes
    X-Forwarded-For / X-Forwarded-Proto only from COORDINATOR_TRUSTED_PROXIES, so the
    address the sign-in throttle sees is the real peer's."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.allowed_hosts
        self.proxies = settings.trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; this app serves no websockets
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        # Load balancers probe /health by address: it says nothing worth a host check.
        if scope["path"] not in HEALTH_PATHS and not host_allowed(host, self.allowed):
            await _bad_host(send)
            return
        peer = scope["client"][0] if scope["client"] else ""
        if self.proxies and _trusted(peer, self.proxies):
            forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
            client = real_client(peer, forwarded, self.proxies)
            scope["client"] = (client, 0)
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
        await self.app(scope, receive, send)


async def _bad_host(send: Send) -> None:
    body = b"Bad Request: this server does not answer to that host name.\n"
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 400,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *((n.encode(), v.encode()) for n, v in HEADERS),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def guard(app: Litestar, settings: Settings) -> Litestar:
    """Put the edge around everything the app answers. Litestar runs middleware only once a
    route matched, so as middleware an unknown path or a wrong method answered 404/405 to any
    Host. `asgi_handler` is what `Litestar.__call__` hands every request to (inside the
    `before_send` hooks, so the 400 carries the security headers too)."""
    app.asgi_handler = Edge(app.asgi_handler, settings)
    return app
