"""Through organizations over the real bot and the sandbox: focal points receive the campaign
in Telegram and pass it on down the tree, each choice once however often it is pressed."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from coordinator.auth import service as auth
from coordinator.auth.models import User
from coordinator.campaigns import cascade_service
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, OrganizationTask
from coordinator.tallies.summary import recount_summary
from tests.bots.test_bot import Phone, eventually, live, onboard
from tests.factories import PASSWORD

__all__ = ["live"]  # the fixture, used by name


async def focal_phone(world, sandbox, key: str, org: str) -> Phone:
    """A lead of `org`, named its focal point, with their Telegram linked and talking to us."""
    person = sandbox.world.add_person(f"Đầu mối {key}", None, "vi")
    phone = Phone(sandbox, person.id)
    user = await auth.create_user(
        world.db,
        None,
        username=f"focal-{key}",
        password=PASSWORD,
        role="lead",
        organization_id=world.org[org],
    )
    async with world.db.write() as session:
        (await session.get(User, user.id)).telegram_user_id = person.id
    await cascade_service.set_focal_points(world.db, None, world.org[org], [user.id])
    await phone.say("/start")
    await eventually(lambda: phone.bot_said(""))  # any answer: the chat is open
    return phone


async def press_data(phone: Phone, message: dict, data: str) -> dict:
    pressed = await phone.call(
        "POST",
        "/sandbox/presses",
        user_id=phone.id,
        chat_id=message["chat"]["id"],
        message_id=message["message_id"],
        data=data,
    )
    query = pressed["callback_query_id"]
    return await eventually(
        lambda: phone.call("GET", f"/sandbox/callback-answers/{query}"), seconds=15
    )


def callback(message: dict, ending: str) -> str:
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["callback_data"].endswith(ending):
                return button["callback_data"]
    raise AssertionError(f"no button {ending} in {message['reply_markup']}")


async def assigned(world, cid: int) -> list[int]:
    async with world.db.read() as session:
        rows = await session.scalars(
            select(Assignment.member_id)
            .where(Assignment.campaign_id == cid)
            .order_by(col(Assignment.member_id))
        )
        return list(rows)


async def test_a_three_level_cascade_over_the_bot(world, live):
    volunteers = {k: await onboard(world, live, k) for k in ("d1", "d2", "c1")}
    province = await focal_phone(world, live, "p", "province")
    district = await focal_phone(world, live, "d", "district")
    commune = await focal_phone(world, live, "c", "commune")
    cid = await world.campaign(targets=("province",), mode="org")
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)

    task = await eventually(lambda: province.bot_said("Cảnh giác lừa đảo"))
    await press_data(province, task, callback(task, ":rcv"))
    await press_data(province, task, callback(task, ":pass"))

    async def choices(phone: Phone):
        message = await phone.bot_said("Cảnh giác lừa đảo")
        keyboard = message.get("reply_markup", {}).get("inline_keyboard", [])
        return message if any(":p:" in b["callback_data"] for r in keyboard for b in r) else None

    shown = await eventually(lambda: choices(province))
    await press_data(province, shown, callback(shown, ":p:suborgs"))

    task = await eventually(lambda: district.bot_said("Cảnh giác lừa đảo"))
    await press_data(district, task, callback(task, ":pass"))
    shown = await eventually(lambda: choices(district))
    clubs = callback(shown, ":p:clubs")
    # The same choice pressed at once and again: one set of assignments.
    await asyncio.gather(*(press_data(district, shown, clubs) for _ in range(3)))
    await press_data(district, shown, clubs)
    await press_data(district, shown, callback(shown, ":p:suborgs"))
    await eventually(lambda: volunteers["d1"].bot_said("Cảnh giác lừa đảo"))
    club_members = sorted([world.member["d1"], world.member["d3"]])
    assert await assigned(world, cid) == club_members

    task = await eventually(lambda: commune.bot_said("Cảnh giác lừa đảo"))
    await press_data(commune, task, callback(task, ":pass"))
    shown = await eventually(lambda: choices(commune))
    members = callback(shown, ":p:members")
    await asyncio.gather(press_data(commune, shown, members), press_data(commune, shown, members))
    await eventually(lambda: volunteers["c1"].bot_said("Cảnh giác lừa đảo"))
    assert await assigned(world, cid) == sorted([*club_members, world.member["c1"]])
    assert await volunteers["d2"].bot_said("Cảnh giác lừa đảo") is None  # not in the club

    async with world.db.read() as session:
        tasks = {
            t.organization_id: t
            for t in await session.scalars(
                select(OrganizationTask).where(OrganizationTask.campaign_id == cid)
            )
        }
    assert tasks[world.org["province"]].passed_on_how == ["suborgs"]
    assert tasks[world.org["district"]].passed_on_how == ["clubs", "suborgs"]
    assert tasks[world.org["commune"]].passed_on_how == ["members"]
    assert tasks[world.org["district2"]].status == "pending"  # no focal point: nobody told
    assert not (await recount_summary(world.db)).drifted
