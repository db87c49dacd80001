"""The sandbox answers as the Bot API documentation says Telegram does."""

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.sandbox import people
from coordinator.sandbox.errors import BotApiError
from coordinator.sandbox.html import visible_text
from coordinator.sandbox.methods import METHODS, normalize
from coordinator.sandbox.state import World


def call(world: World, method: str, **params):
    return METHODS[method.lower()](world, normalize(params))


@pytest.fixture
def world() -> World:
    return World()


async def _person(world: World, name: str = "An") -> int:
    return world.add_person(name, None, "vi").id


async def expect_error(coro, code: int, description: str) -> BotApiError:
    with pytest.raises(BotApiError) as error:
        await coro
    assert error.value.code == code
    assert description in error.value.description
    return error.value


async def test_it_numbers_messages_per_chat(world):
    a, b = await _person(world), await _person(world, "Bình")
    ids = [
        (await call(world, "sendMessage", chat_id=c, text="hi"))["message_id"] for c in (a, a, b)
    ]
    assert ids == [1, 2, 1]


async def test_it_gives_dates_in_seconds_and_the_bot_as_sender(world):
    a = await _person(world)
    message = await call(world, "sendMessage", chat_id=a, text="hi")
    assert isinstance(message["date"], int) and message["date"] > 1_700_000_000
    assert message["from"]["is_bot"] is True and message["chat"]["type"] == "private"


async def test_it_refuses_unknown_chats_blocked_and_deactivated_users(world):
    await expect_error(
        call(world, "sendMessage", chat_id=42, text="x"), 400, "Bad Request: chat not found"
    )
    a = await _person(world)
    world.people[a].blocked_bot = True
    await expect_error(
        call(world, "sendMessage", chat_id=a, text="x"),
        403,
        "Forbidden: bot was blocked by the user",
    )
    world.people[a].deactivated = True
    await expect_error(
        call(world, "sendMessage", chat_id=a, text="x"), 403, "Forbidden: user is deactivated"
    )


async def test_it_answers_a_migrated_group_with_the_new_id(world):
    a = await _person(world)
    group = world.add_group("Chi đoàn", [a])
    new_id = await people.migrate_group(world, group.id)
    error = await expect_error(
        call(world, "sendMessage", chat_id=group.id, text="x"),
        400,
        "group chat was upgraded to a supergroup chat",
    )
    assert error.body()["parameters"] == {"migrate_to_chat_id": new_id}
    assert new_id < -1_000_000_000_000
    assert (await call(world, "sendMessage", chat_id=new_id, text="x"))["chat"][
        "type"
    ] == "supergroup"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Can\'t find end tag corresponding to start tag "i"'),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("<a>link</a>", 'Can\'t find required attribute "href"'),
        ("5 &copy; 6", "Unsupported HTML entity"),
    ],
)
async def test_it_validates_html_like_telegram(world, text, error):
    a = await _person(world)
    await expect_error(
        call(world, "sendMessage", chat_id=a, text=text, parse_mode="HTML"),
        400,
        f"Bad Request: can't parse entities: {error}",
    )


def test_it_counts_length_after_parsing_html():
    assert visible_text("<b>An</b> &amp; <a href='https://x'>Bình</a>", "HTML") == "An & Bình"
    assert visible_text("<b>x", None) == "<b>x"


async def test_it_limits_text_to_4096_characters_after_parsing(world):
    a = await _person(world)
    await call(world, "sendMessage", chat_id=a, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    await expect_error(
        call(world, "sendMessage", chat_id=a, text="x" * 4097), 400, "message is too long"
    )
    await expect_error(
        call(world, "sendMessage", chat_id=a, text="  "), 400, "message text is empty"
    )


async def test_it_limits_callback_data_to_1_to_64_bytes(world):
    a = await _person(world)

    def keyboard(data: str) -> str:
        return json.dumps({"inline_keyboard": [[{"text": "OK", "callback_data": data}]]})

    await call(world, "sendMessage", chat_id=a, text="x", reply_markup=keyboard("đ" * 32))
    for data in ("", "đ" * 33):
        await expect_error(
            call(world, "sendMessage", chat_id=a, text="x", reply_markup=keyboard(data)),
            400,
            "BUTTON_DATA_INVALID",
        )


async def test_it_edits_and_refuses_an_edit_that_changes_nothing(world):
    a = await _person(world)
    sent = await call(world, "sendMessage", chat_id=a, text="one")
    edited = await call(
        world, "editMessageText", chat_id=a, message_id=sent["message_id"], text="two"
    )
    assert edited["text"] == "two" and edited["edit_date"] >= sent["date"]
    await expect_error(
        call(world, "editMessageText", chat_id=a, message_id=sent["message_id"], text="two"),
        400,
        "message is not modified",
    )
    await expect_error(
        call(world, "editMessageText", chat_id=a, message_id=99, text="x"),
        400,
        "message to edit not found",
    )
    assert world.messages[a][sent["message_id"]].edits == ["one"]


async def test_it_answers_each_callback_query_once(world):
    a = await _person(world)
    markup = json.dumps({"inline_keyboard": [[{"text": "Xong", "callback_data": "done:1"}]]})
    sent = await call(world, "sendMessage", chat_id=a, text="Task", reply_markup=markup)
    query_id = await people.press(world, a, a, sent["message_id"], "done:1")
    assert await call(world, "answerCallbackQuery", callback_query_id=query_id, text="OK") is True
    await expect_error(
        call(world, "answerCallbackQuery", callback_query_id=query_id), 400, "query is too old"
    )
    with pytest.raises(BotApiError, match="no button"):
        await people.press(world, a, a, sent["message_id"], "forged")


async def test_it_confirms_updates_by_offset_and_honours_limit(world):
    a = await _person(world)
    for n in range(5):
        await people.send_text(world, a, f"m{n}")
    first = await call(world, "getUpdates", limit=2)
    assert [u["message"]["text"] for u in first] == ["m0", "m1"]
    rest = await call(world, "getUpdates", offset=first[-1]["update_id"] + 1)
    assert [u["message"]["text"] for u in rest] == ["m2", "m3", "m4"]
    assert len(await call(world, "getUpdates")) == 3  # not confirmed yet


async def test_it_long_polls_until_an_update_arrives(world):
    a = await _person(world)
    waiting = asyncio.create_task(call(world, "getUpdates", timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    await people.send_text(world, a, "/start abc")
    updates = await asyncio.wait_for(waiting, 2)
    message = updates[0]["message"]
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_it_filters_by_allowed_updates(world):
    a = await _person(world)
    await call(world, "getUpdates", allowed_updates='["callback_query"]')
    await people.send_text(world, a, "hello")
    assert await call(world, "getUpdates") == []


async def test_it_refuses_get_updates_while_a_webhook_is_set(world):
    await call(world, "setWebhook", url="https://example.org/hook", secret_token="s3cret")
    await expect_error(call(world, "getUpdates"), 409, "webhook is active")
    await expect_error(
        call(world, "setWebhook", url="https://x", secret_token="bad token!"),
        400,
        "secret token contains unallowed characters",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_it_limits_private_chats_to_one_per_second_after_a_small_burst(world):
    clock = Clock()
    world.limits.enabled, world.limits.clock = True, clock
    a = await _person(world)
    for _ in range(3):
        await call(world, "sendMessage", chat_id=a, text="x")
    error = await expect_error(
        call(world, "sendMessage", chat_id=a, text="x"), 429, "Too Many Requests: retry after"
    )
    assert error.body()["parameters"]["retry_after"] >= 1
    clock.now += 3.0
    await call(world, "sendMessage", chat_id=a, text="x")


async def test_it_limits_groups_to_twenty_per_minute_and_everything_to_thirty_per_second(world):
    clock = Clock()
    world.limits.enabled, world.limits.clock = True, clock
    group = world.add_group("Nhóm", [])
    for _ in range(20):
        await call(world, "sendMessage", chat_id=group.id, text="x")
    error = await expect_error(
        call(world, "sendMessage", chat_id=group.id, text="x"), 429, "retry after"
    )
    assert 1 <= error.parameters["retry_after"] <= 60
    clock.now += 61
    users = [await _person(world, f"u{n}") for n in range(31)]
    for user in users[:30]:
        await call(world, "sendMessage", chat_id=user, text="x")
    await expect_error(call(world, "sendMessage", chat_id=users[30], text="x"), 429, "retry after")
    assert world.limits.refused == 2


@given(st.text(max_size=200))
def test_it_either_accepts_html_or_explains_why(text):
    try:
        shown = visible_text(text, "HTML")
    except BotApiError as error:
        assert error.code == 400 and "can't parse entities" in error.description
    else:
        assert len(shown) <= len(text)
