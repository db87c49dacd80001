"""Jinja filters: times in the deployment's zone and numbers, both in the page's language (vi:
01/12/2026 17:00 and 1.234; en: 01 Dec 2026 17:00 and 1,234), percentages (none next to a
masked count) and platform names."""

from __future__ import annotations

from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from coordinator.i18n import number, translate
from coordinator.organizations.channels import PLATFORM_LABELS
from coordinator.settings import Settings
from coordinator.tallies.masked import rate_of

# The default form of a local time, by language; a template may still pass its own format.
TIME_FORMATS = {"vi": "%d/%m/%Y %H:%M", "en": "%d %b %Y %H:%M"}
# Zones with a name people use; others are shown by their tz database name.
ZONE_NAMES = {"Asia/Ho_Chi_Minh": "Vietnam time", "Asia/Saigon": "Vietnam time"}


def install(env: Environment, settings: Settings) -> None:
    tz = settings.timezone

    @pass_context
    def localtime(context: Context, value: datetime | None, fmt: str | None = None) -> str:
        lang = context.get("lang", "vi")
        return (
            value.astimezone(tz).strftime(fmt or TIME_FORMATS.get(lang, TIME_FORMATS["vi"]))
            if value
            else ""
        )

    @pass_context
    def count(context: Context, value: Any) -> str:
        return number(value, context.get("lang", "vi"))

    @pass_context
    def platform(context: Context, value: str) -> str:
        return translate(context.get("lang", "vi"), PLATFORM_LABELS.get(value, value))

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
        localtime=localtime,
        percent=percent,
        rate=rate,
        small=small,
        telegram_html=telegram_html,
        number=count,
        platform=platform,
    )
    env.globals["timezone"] = ZONE_NAMES.get(str(tz), str(tz))


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
