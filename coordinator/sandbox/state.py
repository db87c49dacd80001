"""The sandbox's world: users, chats, messages and the bot's update queue, all in memory."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from coordinator.sandbox.errors import (
    BLOCKED,
    CHAT_NOT_FOUND,
    DEACTIVATED,
    KICKED,
    MIGRATED,
    BotApiError,
    bad_request,
)
from coordinator.sandbox.limits import FloodLimits

UPDATE_KINDS = ("message", "edited_message", "callback_query", "my_chat_member")


@dataclass
class Person:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None
    blocked_bot: bool = False
    deactivated: bool = False

    def as_user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user


@dataclass
class Chat:
    id: int
    type: str  # private | group | supergroup
    title: str | None = None
    members: set[int] = field(default_factory=set)
    bot_is_member: bool = True
    migrated_to: int | None = None

    def as_chat(self, people: dict[int, Person]) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            person = people[self.id]
            chat["first_name"] = person.first_name
            if person.username:
                chat["username"] = person.username
        else:
            chat["title"] = self.title
        return chat


@dataclass
class Message:
    chat_id: int
    message_id: int
    from_id: int
    date: int
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False
    parse_mode: str | None = None
    edits: list[str] = field(default_factory=list)


@dataclass
class Webhook:
    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    pending: int = 0
    last_error_date: int | None = None
    last_error_message: str | None = None


DEFAULT_BOT_USERNAME = "CoordinatorBot"  # the sandbox's own bot; a real bot's name is its own


class World:
    """Everything the emulated Telegram knows about one bot and the people around it."""

    def __init__(
        self,
        token: str = "1000:sandbox",
        username: str = DEFAULT_BOT_USERNAME,
        first_person_id: int = 100_000_001,
    ) -> None:
        """`first_person_id`: where this world's people are numbered from, so that the worlds
        of several bots in one test have people of their own."""
        self.token = token
        self.bot = Person(int(token.split(":", 1)[0]), "Coordinator", username)
        self.people: dict[int, Person] = {}
        self.chats: dict[int, Chat] = {}
        self.messages: dict[int, dict[int, Message]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self.new_update = asyncio.Condition()
        self.webhook = Webhook()
        self.allowed_updates: list[str] | None = None
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.failing: dict[str, int] = {}  # Bot API method (lower case) -> error status it answers
        self.limits = FloodLimits(clock=time.monotonic)
        self._person_ids = itertools.count(first_person_id)
        self._group_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self.sent = 0
        self.edited = 0
        self.closing = False
        self._delay = 0.0
        self.held = 0  # Bot API calls being held by the delay right now
        self.undelayed = asyncio.Event()
        self.undelayed.set()

    @property
    def delay(self) -> float:
        """Seconds every Bot API call waits before it is handled (0: none)."""
        return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._delay = seconds
        if seconds:
            self.undelayed.clear()
        else:
            self.undelayed.set()

    # -- time and ids -------------------------------------------------------------------
    @staticmethod
    def now() -> int:
        return int(time.time())

    def next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    # -- people and chats ---------------------------------------------------------------
    def add_person(
        self, first_name: str, username: str | None, language_code: str | None
    ) -> Person:
        person = Person(next(self._person_ids), first_name, username, language_code)
        self.people[person.id] = person
        self.chats[person.id] = Chat(person.id, "private")
        return person

    def add_known_person(
        self, person_id: int, first_name: str, language_code: str | None
    ) -> Person:
        """Someone who already talks to the bot (an existing member when the sandbox starts)."""
        person = Person(person_id, first_name, None, language_code)
        self.people[person.id] = person
        self.chats[person.id] = Chat(person.id, "private")
        return person

    def add_known_group(self, chat_id: int, title: str) -> Chat:
        chat = Chat(chat_id, "supergroup" if chat_id < -1_000_000_000_000 else "group", title)
        self.chats[chat_id] = chat
        return chat

    def add_group(self, title: str, member_ids: list[int], supergroup: bool = False) -> Chat:
        n = next(self._group_ids)
        chat_id = -(1_000_000_000_000 + n) if supergroup else -(4_000_000 + n)
        chat = Chat(chat_id, "supergroup" if supergroup else "group", title, set(member_ids))
        self.chats[chat_id] = chat
        return chat

    def person(self, user_id: int) -> Person:
        if user_id not in self.people:
            raise bad_request("user not found")
        return self.people[user_id]

    def chat_for_bot(self, chat_id: Any) -> Chat:
        """The chat a bot method names, with the errors Telegram gives for unusable ones."""
        try:
            chat = self.chats[int(chat_id)]
        except (KeyError, TypeError, ValueError):
            raise bad_request(CHAT_NOT_FOUND) from None
        if chat.type == "private":
            person = self.people[chat.id]
            if person.deactivated:
                raise BotApiError(403, DEACTIVATED)
            if person.blocked_bot:
                raise BotApiError(403, BLOCKED)
        else:
            if chat.migrated_to is not None:
                raise bad_request(MIGRATED, migrate_to_chat_id=chat.migrated_to)
            if not chat.bot_is_member:
                raise BotApiError(403, KICKED)
        return chat

    def message(self, chat_id: int, message_id: int) -> Message | None:
        found = self.messages.get(chat_id, {}).get(message_id)
        return None if found is None or found.deleted else found

    # -- messages -----------------------------------------------------------------------
    def store(self, message: Message) -> Message:
        self.messages.setdefault(message.chat_id, {})[message.message_id] = message
        return message

    def render(self, message: Message) -> dict[str, Any]:
        sender = (
            self.bot.as_user() | {"is_bot": True}
            if message.from_id == self.bot.id
            else (self.people[message.from_id].as_user())
        )
        body: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": self.chats[message.chat_id].as_chat(self.people),
            "date": message.date,
            "text": message.text,
        }
        if message.entities:
            body["entities"] = message.entities
        if message.reply_markup:
            body["reply_markup"] = message.reply_markup
        if message.edit_date:
            body["edit_date"] = message.edit_date
        return body

    # -- updates ------------------------------------------------------------------------
    async def push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for the bot (dropped if the bot asked not to get this kind)."""
        update = {"update_id": next(self._update_ids), kind: payload}
        allowed = self.webhook.allowed_updates if self.webhook.url else self.allowed_updates
        if allowed and kind not in allowed:
            return update
        async with self.new_update:
            self.updates.append(update)
            self.new_update.notify_all()
        return update

    async def close(self) -> None:
        """Wake every long poll: the server is going away."""
        self.closing = True
        async with self.new_update:
            self.new_update.notify_all()

    def confirm(self, offset: int) -> None:
        """getUpdates with an offset confirms every update before it."""
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
