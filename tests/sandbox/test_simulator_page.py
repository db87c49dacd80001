"""The volunteer simulator's page and chat: namesakes are told apart by organization and code,
the list pages on past 40, command buttons send their command, and the chat follows new
messages and empties the composer (from the static script: the CSP allows no inline code)."""

from __future__ import annotations

from pathlib import Path

from coordinator.sandbox.volunteers import LISTED, list_volunteers
from coordinator.sandbox.web import _typed
from tests.factories import _member

ROOT = Path(__file__).resolve().parents[2]


async def test_it_tells_namesakes_apart_and_pages_past_the_first_forty(world):
    admin = world.actor["admin"]
    await _member(world.db, admin, world.org["district"], "Trùng Tên")
    await _member(world.db, admin, world.org["commune"], "Trùng Tên")
    for n in range(LISTED + 5):
        await _member(world.db, admin, world.org["district2"], f"Tình nguyện {n:02d}")
    first, _ = await list_volunteers(world.db, admin, None)
    assert len(first.items) == LISTED and first.total > LISTED
    second, _ = await list_volunteers(world.db, admin, None, LISTED)
    assert len(second.items) == first.total - LISTED
    seen = {v.member.id for v in first.items} | {v.member.id for v in second.items}
    assert len(seen) == first.total  # no one twice, no one missing
    twins, _ = await list_volunteers(world.db, admin, "trùng")
    assert sorted(v.organization for v in twins.items) == ["Huyện đoàn A", "Đoàn xã A1"]


def test_it_sends_the_pressed_command_not_the_list_of_both_fields():
    assert _typed({"text": "", "command": "/tasks"}) == "/tasks"
    assert _typed({"text": ["", "/help"]}) == "/help"  # an old page's duplicate field
    assert _typed({"text": " xin chào "}) == "xin chào"
    assert _typed({}) == ""


def test_its_buttons_carry_their_command_and_the_chat_follows_and_clears():
    chat = (ROOT / "templates/sandbox/simulator_chat.html").read_text()
    assert 'name="command" value="/tasks"' in chat and 'name="command" value="/help"' in chat
    assert 'name="text" value=' not in chat  # one field per meaning: no ['', '/tasks']
    assert "data-chat-follow" in chat and "data-clear-after-send" in chat
    script = (ROOT / "static/app.js").read_text()
    assert "scrollTop = chat.scrollHeight" in script
    assert 'input.value = ""' in script
    assert "<script>" not in chat and "hx-on" not in chat
