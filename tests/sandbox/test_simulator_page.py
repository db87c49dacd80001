"""The volunteer simulator's page and chat: namesakes are told apart by organization and code,
the list pages on past 40, command buttons send their command, and the chat follows new
messages and empties the composer (from the static script: the CSP allows no inline code).
Leads and focal points linked to their own Telegram are listed too, within the actor's reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.auth.models import User
from coordinator.errors import Forbidden, NotFound
from coordinator.sandbox.volunteers import LISTED, chat_owner, list_staff, list_volunteers
from coordinator.sandbox.web import _typed
from coordinator.serve import _sandbox_world
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


async def _link_users(world, telegram_ids: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    async with world.db.write() as session:
        for key, telegram_id in telegram_ids.items():
            user = await session.get(User, world.user_id[key])
            user.telegram_user_id = telegram_id


async def test_it_lists_leads_linked_to_telegram_within_reach_and_opens_their_chat(world):
    await _link_users(world, {"lead": 8_100, "outsider_lead": 8_200})
    seen_by_admin = await list_staff(world.db, world.actor["admin"], None)
    assert [s.user.username for s in seen_by_admin] == ["lead", "outsider-lead"]
    assert [s.organization for s in seen_by_admin] == ["Huyện đoàn A", "Đoàn khối doanh nghiệp"]
    own = await list_staff(world.db, world.actor["lead"], None)
    assert [s.user.username for s in own] == ["lead"]  # not the outsider's lead
    assert await chat_owner(world.db, world.actor["lead"], 8_100) == "lead"
    with pytest.raises(NotFound):
        await chat_owner(world.db, world.actor["lead"], 8_200)
    with pytest.raises(Forbidden):
        await list_staff(world.db, world.actor["leadership"], None)


async def test_the_sandbox_knows_linked_leads_after_a_restart(world):
    await _link_users(world, {"lead": 8_100})
    sandbox = await _sandbox_world(world.db, "CoordinatorBot")
    assert sandbox.person(8_100).first_name == "lead"  # their digests and tasks find a chat
    assert 8_100 in sandbox.chats
