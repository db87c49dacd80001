"""Steps the browser tests share: what a person does in the simulator's Telegram chat, and the
checks every page they meet must pass (fits the screen, says nothing in English)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_layout import OVERFLOW_JS
from tests.web.test_language import leaks

# The page without what it shows in another language on purpose (the English preview).
VIETNAMESE_JS = """() => { const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll('[lang]:not([lang|=vi])').forEach((e) => e.remove());
  return copy.outerHTML; }"""
DELIVERED = 30_000  # ms: the sender delivers through the sandbox, the chat polls every 2 s


def open_chat(page: Page, name: str) -> None:
    """The simulator's chat of the person (volunteer, lead or focal point) with this name."""
    page.goto("/simulator")
    page.locator("ul.people").get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#chat")).to_be_visible()


def bot_message(page: Page, text: str) -> Locator:
    """The bot's message in the open chat that says `text`, once it has arrived."""
    message = page.locator(".msg.from-bot").filter(has_text=text)
    expect(message).to_be_visible(timeout=DELIVERED)
    return message


def press(page: Page, message: Locator, button: str | re.Pattern[str], answer: str) -> None:
    """Press an inline button under the bot's message; the bot's answer shows as a toast."""
    message.get_by_role("button", name=button).click()
    expect(page.locator("#toast")).to_contain_text(answer, timeout=10_000)


def press_done(page: Page, title: str) -> None:
    """The volunteer whose chat is open presses Done on the assignment `title`."""
    message = bot_message(page, title)
    message.get_by_role("button", name=re.compile("Đã làm xong")).click()
    expect(page.locator("#toast")).to_contain_text(re.compile(r"\S"), timeout=10_000)
    expect(message).to_contain_text("Trạng thái của bạn: Đã làm xong", timeout=15_000)


def fits_and_reads_vietnamese(page: Page) -> None:
    """Nothing wider than the screen, and no English message on the page."""
    wide, english = page.evaluate(OVERFLOW_JS), leaks(page.evaluate(VIETNAMESE_JS))
    assert wide == [], f"{page.url} overflows: {wide}"
    assert english == [], f"{page.url} shows English: {english}"
