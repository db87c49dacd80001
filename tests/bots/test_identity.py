"""The bot's name comes from getMe only: before it has answered, links are refused with a
clear message (API and pages) instead of naming a guessed bot; a new token forgets the old."""

from __future__ import annotations

import re

from sqlalchemy import delete

from coordinator.bots import identity
from coordinator.bots.models import BotRecord
from coordinator.organizations import invites
from tests.factories import BOT_USERNAME
from tests.web.test_web_authorization import sign_in


async def _forget_the_bot(world) -> None:
    async with world.db.write() as session:
        await session.execute(delete(BotRecord))


async def test_links_are_refused_until_getme_has_answered(api, world):
    await _forget_the_bot(world)
    member = world.member["c_unlinked"]
    r = await api.post(f"/api/v1/members/{member}/invite", headers=api.as_("lead"))
    assert r.status_code == 503
    assert r.json()["code"] == "bot_not_known" and "not known yet" in r.json()["detail"]
    r = await api.post(
        "/api/v1/group-chats/invite",
        headers=api.as_("lead"),
        json={"organization_id": world.org["district"]},
    )
    assert r.status_code == 503
    await identity.record_identity(world.db, 1000, "Hoi_Lien_Hiep_bot")
    r = await api.post(f"/api/v1/members/{member}/invite", headers=api.as_("lead"))
    assert r.status_code == 201 and r.json()["link"].startswith("https://t.me/Hoi_Lien_Hiep_bot?")


async def test_pages_say_so_inline_in_the_users_language(api, world):
    await _forget_the_bot(world)
    await sign_in(api, "lead")
    csrf = {"x-csrftoken": api.cookies["coordinator_csrf"]}
    for path, back in (
        (f"/members/{world.member['d1']}/invite", "/members"),
        (
            f"/organizations/{world.org['district']}/group-link",
            f"/organizations/{world.org['district']}",
        ),
        (
            f"/organizations/{world.org['district']}/invites",
            f"/organizations/{world.org['district']}",
        ),
        ("/digests/link", "/digests"),
    ):
        r = await api.post(path, headers=csrf, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == back, path
        shown = await api.get(back)
        assert shown.status_code == 200
        assert "Chưa biết tên Telegram của bot" in shown.text, path  # Vietnamese by default
        assert "t.me/" not in shown.text


async def test_a_new_token_forgets_the_old_bots_name(world):
    async with world.db.read() as session:
        assert (await identity.bot_username(session)) == BOT_USERNAME
    await identity.expect_bot(world.db, 1000)  # the same bot: its name stays
    link = await invites.member_invite(world.db, world.actor["admin"], world.member["d1"])
    assert link.link.startswith(f"https://t.me/{BOT_USERNAME}?start=")
    await identity.expect_bot(world.db, 2000)  # another token: no name until its getMe
    try:
        await invites.member_invite(world.db, world.actor["admin"], world.member["d1"])
    except identity.BotNotKnown:
        pass
    else:
        raise AssertionError("a link naming the previous bot")
    status = await identity.bot_status(world.db)
    assert status["identity_known"] is False and status["username"] is None


async def test_every_page_link_names_the_bot_getme_described(api, world):
    await sign_in(api, "lead")
    csrf = {"x-csrftoken": api.cookies["coordinator_csrf"]}
    district = world.org["district"]
    for path in (
        f"/members/{world.member['d2']}/invite",
        f"/organizations/{district}/group-link",
        f"/organizations/{world.org['commune']}/invites",  # c_unlinked's sheet
        "/digests/link",
    ):
        r = await api.post(path, headers=csrf)
        assert r.status_code == 200, path
        names = set(re.findall(r"t\.me/([A-Za-z0-9_]+)", r.text))
        assert names == {BOT_USERNAME}, (path, names)
