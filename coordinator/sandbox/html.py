"""Telegram's HTML parse mode: which tags it accepts, and the text length after parsing."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

from coordinator.sandbox.errors import BotApiError, bad_request

# https://core.telegram.org/bots/api#html-style
ALLOWED = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self.getpos()[1]}')
            return
        if tag == "a" and not dict(attrs).get("href"):
            self._fail('Can\'t find required attribute "href" of tag "a"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            self._fail(f"Unexpected end tag at byte offset {self.getpos()[1]}")
        elif self.stack[-1] != tag:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1]}"')
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        # Telegram wants every "<" that opens no tag written as &lt; (e.g. a bare "<5").
        if "<" in data:
            self._fail(f'Unsupported start tag "" at byte offset {self.getpos()[1]}')
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self._fail(f'Unsupported HTML entity "&{name};"')
        self.text.append(unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(unescape(f"&#{name};"))


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user would see; raises the Bot API's 400 if the markup is wrong."""
    if parse_mode is None:
        return text
    if parse_mode != "HTML":
        raise bad_request(f"unsupported parse_mode {parse_mode!r} in this sandbox")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    if checker.error:
        raise BotApiError(400, f"Bad Request: can't parse entities: {checker.error}")
    return "".join(checker.text)
