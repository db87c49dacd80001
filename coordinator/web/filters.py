"""Jinja filters: times in the deployment's zone, small counts hidden, percentages."""

from __future__ import annotations

from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from coordinator.settings import Settings
from coordinator.tallies.period import hide_small


def install(env: Environment, settings: Settings) -> None:
    tz = settings.timezone

    def localtime(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def percent(part: float, whole: float) -> str:
        return f"{100 * part / whole:.0f}%" if whole else "–"

    def small(count: int, hide: bool, base: int | None = None) -> Any:
        """Leadership sees "<5" for small counts and small groups (identity protection)."""
        return hide_small(count, base) if hide else count

    env.filters.update(
        localtime=localtime, percent=percent, small=small, telegram_html=telegram_html
    )
    env.globals["timezone"] = str(tz)


KEPT_TAGS = {"b", "strong", "i", "em", "u", "s", "code", "pre"}


class _Sanitizer(HTMLParser):
    """Rebuilds Telegram-style HTML keeping only simple formatting and http(s) links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in KEPT_TAGS:
            self.out.append(f"<{tag}>")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith(("https://", "http://")):
                self.out.append(f'<a href="{escape(href)}" rel="noopener noreferrer">')
            else:
                self.out.append("<a>")

    def handle_endtag(self, tag: str) -> None:
        if tag in KEPT_TAGS or tag == "a":
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data))


def telegram_html(text: str) -> Markup:
    """A bot message as the volunteer sees it in Telegram, safe to put in our page."""
    parser = _Sanitizer()
    parser.feed(text or "")
    parser.close()
    return Markup("".join(parser.out))  # rebuilt above from escaped parts only
