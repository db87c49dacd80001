"""Button presses, recorded in batches: every press waiting is written in one commit.

A press used to cost six short transactions, and concurrent presses queued on SQLite's single
writer lock. Now the handlers hand their presses to a `PressQueue`; while one commit runs, the
next presses gather, and each commit records them all (group commit): the update ids, the
reports under the task locks, the group-counter edits and the re-rendered DM messages.
Each press is still judged on its own (`record_reports_in`), so one refusal never spoils another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator import metrics
from coordinator.base import table_of, utcnow
from coordinator.bots import org_presses
from coordinator.bots.models import TelegramUpdate
from coordinator.bots.org_presses import OrgAnswer
from coordinator.bots.views import View, assignment_views_in
from coordinator.campaigns import cascade_messages
from coordinator.campaigns.models import Assignment, Campaign
from coordinator.campaigns.reports import ReportOutcome, ReportRequest, record_reports_in
from coordinator.db import Database, upsert_insert
from coordinator.delivery import messages
from coordinator.delivery.models import DEFAULT_BOT
from coordinator.delivery.queue import queue_group_edit_in
from coordinator.errors import DomainError
from coordinator.organizations.models import Member
from coordinator.organizations.onboarding import mark_reachable_in

logger = logging.getLogger("coordinator.bot")
UPDATES, M = table_of(TelegramUpdate), table_of(Member)
BATCH = 200


@dataclass(frozen=True)
class Press:
    update_id: int
    telegram_user_id: int
    data: str
    chat_id: int | None  # the chat of the message whose button was pressed
    payload: dict[str, Any] = field(compare=False)  # the update, kept as received
    message_id: int | None = None  # the message whose button was pressed (maybe an older copy)
    bot: int = DEFAULT_BOT  # the bot it came through: update ids are counted per bot


@dataclass
class PressResult:
    """What the handler answers. `repeat`: the update was handled before; say nothing."""

    repeat: bool = False
    locale: str | None = None  # the member's, when the presser is a linked member
    refusal: str | None = None  # a report refusal's code, or "not_linked"
    outcome: ReportOutcome | None = None
    ask_proof: bool = False
    view: View | None = None  # the DM message as it reads now, to edit in place
    org: OrgAnswer | None = None  # a focal point's press on an organization task


Waiting = tuple[Press, "asyncio.Future[PressResult]"]


def ours(data: str) -> bool:
    """Callback data of one of our buttons, read as `record_presses` reads it: a task's
    (`t:`, messages.parse_callback) or an organization task's (`o:`, cascade_messages)."""
    if data.startswith("o:"):
        return cascade_messages.parse_callback(data) is not None
    return messages.parse_callback(data) is not None


async def _claim_updates(
    session: AsyncSession, presses: Sequence[Press], now: datetime
) -> list[bool]:
    """Record the updates as handled; for each press, whether its update was handled before
    (in an earlier commit, or earlier in this batch). One statement: an update new to us is
    inserted as handled, one the webhook inbox stored is marked handled now, and one handled
    before is left alone and returned by nothing."""
    first: dict[tuple[int, int], Press] = {}
    for press in presses:
        first.setdefault((press.bot, press.update_id), press)
    upsert = upsert_insert(session)(UPDATES)
    # Rows as executemany parameters, not a multi-row VALUES: SQLAlchemy compiles that anew for
    # every batch, which cost more than the statement; this one is compiled once and cached.
    claimed = await session.execute(
        upsert.on_conflict_do_update(
            index_elements=["bot_id", "update_id"],
            set_={"processed_at": upsert.excluded.processed_at},
            where=UPDATES.c.processed_at.is_(None),
        ).returning(UPDATES.c.bot_id, UPDATES.c.update_id),
        [
            {
                "bot_id": bot,
                "update_id": uid,
                "payload": press.payload,
                "received_at": now,
                "processed_at": now,
            }
            for (bot, uid), press in first.items()
        ],
    )
    ours = {(int(bot), int(uid)) for bot, uid in claimed}
    repeats = []
    for press in presses:
        key = (press.bot, press.update_id)
        repeats.append(key not in ours or first[key] is not press)
    return repeats


MEMBER_COLUMNS = (M.c.id, M.c.telegram_user_id, M.c.locale, M.c.unreachable_at)


async def record_presses(
    db: Database, presses: Sequence[Press], default_locale: str, now: datetime | None = None
) -> list[PressResult]:
    """Record a batch of presses in one transaction; one result per press, in order."""
    now = now or utcnow()
    async with db.write() as session:
        repeats = await _claim_updates(session, presses, now)
        telegram_ids = {p.telegram_user_id for p in presses}
        members = {
            m.telegram_user_id: m
            for m in await session.execute(
                core_select(*MEMBER_COLUMNS).where(
                    M.c.telegram_user_id.in_(telegram_ids), M.c.deactivated_at.is_(None)
                )
            )
        }
        results = [PressResult(repeat=repeat) for repeat in repeats]
        asked: list[tuple[int, ReportRequest]] = []
        for n, press in enumerate(presses):
            if results[n].repeat:
                continue
            if press.data.startswith("o:"):
                results[n].org = await org_presses.press_in(
                    session, press.telegram_user_id, press.data, now, default_locale
                )
                continue
            member = members.get(press.telegram_user_id)
            parsed = messages.parse_callback(press.data)
            results[n].locale = member.locale if member else None
            if member is None or parsed is None:
                results[n].refusal = "not_linked"
                continue
            asked.append((n, ReportRequest(parsed[0], member.id, parsed[1])))
            if member.unreachable_at is not None and (press.chat_id or 0) > 0:
                # Pressed in their own chat: reachable again (rare, so through the model).
                row = await session.get(Member, member.id)
                if row is not None:
                    await mark_reachable_in(session, row, now)
        outcomes = await record_reports_in(session, [r for _, r in asked], now=now)
        recorded = list(zip(asked, outcomes, strict=True))
        await _follow_up(session, presses, results, recorded, default_locale, now)
    return results


async def _follow_up(
    session: AsyncSession,
    presses: Sequence[Press],
    results: list[PressResult],
    recorded: list[tuple[tuple[int, ReportRequest], ReportOutcome | DomainError]],
    default_locale: str,
    now: datetime,
) -> None:
    """Group counters to refresh, proof links to ask for, DM messages to re-render."""
    to_render: list[tuple[int, int]] = []
    done: list[tuple[int, int]] = []
    for (n, req), outcome in recorded:
        if isinstance(outcome, DomainError):
            results[n].refusal = outcome.code
            continue
        results[n].outcome = outcome
        chat_id = presses[n].chat_id
        if chat_id is not None and chat_id < 0:
            await queue_group_edit_in(session, req.assignment_id, chat_id, now)
        elif chat_id is not None and (outcome.created or presses[n].message_id is not None):
            # Even a repeat press is rendered: it may come from an older copy of the card,
            # which the handler then points at the newer one.
            to_render.append((n, req.assignment_id))
        if req.action == "done" and outcome.created:
            done.append((n, req.assignment_id))
    if done:
        wanting = set(
            await session.scalars(
                select(Assignment.id)
                .join(Campaign, col(Campaign.id) == Assignment.campaign_id)
                .where(col(Assignment.id).in_([a for _, a in done]), col(Campaign.proof_requested))
            )
        )
        for n, assignment_id in done:
            results[n].ask_proof = assignment_id in wanting
    if to_render:
        views = await assignment_views_in(session, [a for _, a in to_render], default_locale)
        for n, assignment_id in to_render:
            results[n].view = views[assignment_id]


class PressQueue:
    """Hands presses to `record_presses`, as many per commit as are waiting (group commit)."""

    def __init__(
        self, db: Database, default_locale: str, most: int = BATCH, name: str = metrics.BOT
    ) -> None:
        self.db, self.locale, self.most, self.name = db, default_locale, most, name
        self._waiting: list[Waiting] = []
        self._draining: asyncio.Task[None] | None = None

    async def submit(self, press: Press) -> PressResult:
        future: asyncio.Future[PressResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((press, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        with metrics.PRESSES.labels(self.name).time():
            return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
            try:
                await self._record(batch)
            except Exception:
                if len(batch) == 1:
                    continue
                logger.exception("a batch of %d presses failed; recording each alone", len(batch))
                for one in batch:  # one bad press must not sink the others
                    with contextlib.suppress(Exception):
                        await self._record([one])

    async def _record(self, batch: list[Waiting]) -> None:
        try:
            results = await record_presses(self.db, [p for p, _ in batch], self.locale)
        except Exception as exc:
            if len(batch) == 1 and not batch[0][1].done():
                batch[0][1].set_exception(exc)
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
