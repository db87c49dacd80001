"""Jinja filters: times in the deployment's zone, percentages (none next to a masked count)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from coordinator.settings import Settings
from coordinator.tallies.masked import rate_of


def install(env: Environment, settings: Settings) -> None:
    tz = settings.timezone

    def localtime(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def percent(part: Any, whole: Any) -> str:
        """part of whole; "–" with no base or next to a masked count (tallies/masked.py)."""
        share = rate_of(part, whole)
        return "–" if share is None else f"{100 * share:.0f}%"

    def rate(value: float | None) -> str:
        """A rate that tallies/masked.py computed; "–" where it is hidden."""
        return "–" if value is None else f"{100 * value:.0f}%"

    def small(count: Any, hide: bool = False, base: int | None = None) -> Any:
        """A count as is: tallies come masked for their audience (tallies/masked.py)."""
        return count

    env.filters.update(
        localtime=localtime, percent=percent, rate=rate, small=small, telegram_html=telegram_html
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
