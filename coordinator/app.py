"""create_app(): the Litestar app, wired by `coordinator.plugin.CoordinatorPlugin`."""

from __future__ import annotations

from litestar import Litestar

from coordinator.plugin import CoordinatorPlugin
from coordinator.settings import Settings, get_settings
from coordinator.web.edge import guard


def create_app(settings: Settings | None = None, *, sandbox_url: str | None = None) -> Litestar:
    """The web app; `sandbox_url` (the in-process Bot API sandbox) enables the simulator."""
    settings = settings or get_settings()
    return guard(Litestar(plugins=[CoordinatorPlugin(settings, sandbox_url)]), settings)
