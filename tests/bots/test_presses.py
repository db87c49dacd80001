"""Button presses recorded in batches: one commit, each press judged as if it were alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from coordinator.bots.models import TelegramUpdate
from coordinator.bots.presses import Press, PressQueue, record_presses
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment, Report
from coordinator.delivery.models import OutboxMessage
from coordinator.organizations.models import Member

STRANGER = 999_999_999


async def _dm_campaign(world, proof: bool = False) -> dict[str, tuple[int, int]]:
    """A launched DM campaign; member key -> (assignment id, the member's Telegram id)."""
    cid = await world.campaign(targets=("district",), proof=proof)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        rows = (
            await session.execute(
                select(Assignment.id, Member.id, Member.telegram_user_id)
                .join(Member, col(Member.id) == Assignment.member_id)
                .where(Assignment.campaign_id == cid)
            )
        ).all()
    by_member = {member_id: (task, telegram) for task, member_id, telegram in rows}
    return {key: by_member[m] for key, m in world.member.items() if m in by_member}


def _press(update_id: int, who: tuple[int, int], step: str, chat: int | None = None) -> Press:
    task, telegram_id = who
    return Press(update_id, telegram_id, f"t:{task}:{step}", chat or telegram_id, {"n": update_id})


async def test_it_judges_each_press_of_a_batch_alone_and_in_order(world):
    tasks = await _dm_campaign(world, proof=True)
    d1, d2, d3 = tasks["d1"], tasks["d2"], tasks["d3"]
    batch = [
        _press(1, d1, "ack"),
        _press(2, d1, "done"),  # moves on from the ack just above, in the same commit
        _press(3, d2, "done"),
        _press(4, d2, "ack"),  # backwards: refused, and the done stays
        _press(5, (d3[0], STRANGER), "ack"),  # not a linked member
        Press(6, d3[1], "not-a-button", d3[1], {}),
        _press(7, d3, "ack"),
        _press(8, d3, "ack"),  # a repeat: the first report stands
        _press(7, d3, "ack"),  # the same update twice: said nothing the second time
    ]
    results = await record_presses(world.db, batch, "vi")
    assert [r.repeat for r in results] == [False] * 8 + [True]
    assert [r.refusal for r in results] == [
        None,
        None,
        None,
        "status_backwards",
        "not_linked",
        "not_linked",
        None,
        None,
        None,
    ]
    assert [r.outcome.created if r.outcome else None for r in results[:8]] == [
        True,
        True,
        True,
        None,
        None,
        None,
        True,
        False,
    ]
    # Done asks for the optional proof (this campaign wants it); the DM message is re-rendered.
    assert [r.ask_proof for r in results[:4]] == [False, True, True, False]
    assert results[1].view is not None and results[1].view[0].status == "done"
    assert results[7].view is None  # nothing changed, nothing to edit
    async with world.db.read() as session:
        status = dict((await session.execute(select(Assignment.id, Assignment.status))).all())
        reports = (await session.scalars(select(Report.action).order_by(Report.id))).all()
        handled = (await session.scalars(select(TelegramUpdate.update_id))).all()
    assert (status[d1[0]], status[d2[0]], status[d3[0]]) == ("done", "done", "acknowledged")
    assert reports == ["acknowledged", "done", "done", "acknowledged"]
    assert sorted(handled) == [1, 2, 3, 4, 5, 6, 7, 8]
    # Telegram delivering the same updates again changes nothing and answers nothing.
    again = await record_presses(world.db, batch[:3], "vi")
    assert all(r.repeat for r in again)


async def test_it_queues_one_coalesced_counter_edit_for_group_presses(world):
    cid = await world.campaign(targets=("district",), mode="group")
    from coordinator.organizations.models import GroupChat

    async with world.db.write() as session:
        session.add(GroupChat(telegram_chat_id=-1001, organization_id=world.org["district"]))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    async with world.db.read() as session:
        task = await session.scalar(select(Assignment.id).where(Assignment.campaign_id == cid))
        people = dict((await session.execute(select(Member.id, Member.telegram_user_id))).all())
    presses = [
        Press(n, people[world.member[k]], f"t:{task}:done", -1001, {})
        for n, k in enumerate(("d1", "d2", "o1"), start=1)
    ]
    results = await record_presses(world.db, presses, "vi")
    assert [r.refusal for r in results] == [None, None, "not_a_member"]
    assert all(r.view is None for r in results)  # the group message is edited by the outbox
    async with world.db.read() as session:
        edits = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "edit"))
        ).all()
    assert len(edits) == 1 and edits[0].chat_id == -1001


async def test_a_press_that_breaks_its_batch_fails_alone(world):
    tasks = await _dm_campaign(world)
    queue = PressQueue(world.db, "vi")
    # An update id no database column can hold: the whole first commit fails for real.
    broken = _press(2**64, tasks["d2"], "ack")
    results = await asyncio.wait_for(
        asyncio.gather(
            queue.submit(_press(1, tasks["d1"], "ack")),
            queue.submit(broken),
            queue.submit(_press(3, tasks["d3"], "done")),
            return_exceptions=True,
        ),
        timeout=20,  # a press left unanswered would hang its handler forever
    )
    assert results[0].outcome.created and results[2].outcome.created
    assert isinstance(results[1], Exception)
    async with world.db.read() as session:
        reports = (await session.scalars(select(Report.action).order_by(Report.id))).all()
    assert sorted(reports) == ["acknowledged", "done"]


@pytest.mark.parametrize("burst", [1, 40])
async def test_the_queue_answers_every_press_once(world, burst):
    tasks = await _dm_campaign(world)
    queue = PressQueue(world.db, "vi")
    who = tasks["d1"]
    results = await asyncio.wait_for(
        asyncio.gather(*(queue.submit(_press(n, who, "ack")) for n in range(1, burst + 1))),
        timeout=20,
    )
    assert sum(r.outcome.created for r in results) == 1
    assert all(r.refusal is None and not r.repeat for r in results)
