"""Jinja filters: times in the deployment's zone, small counts hidden, percentages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

from coordinator.settings import Settings


def install(env: Environment, settings: Settings) -> None:
    tz = settings.timezone

    def localtime(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def percent(part: float, whole: float) -> str:
        return f"{100 * part / whole:.0f}%" if whole else "–"

    def small(count: int, hide: bool) -> Any:
        """Leadership sees "<5" instead of a count below five (identity protection)."""
        return "<5" if hide and 0 < count < 5 else count

    env.filters.update(localtime=localtime, percent=percent, small=small)
    env.globals["timezone"] = str(tz)
