"""JSON routes of the outbox: counts by status and kind, and the rows that need a person."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, get, post

from coordinator.delivery import review
from coordinator.http import DB, CurrentActor, Limit, Offset, PageOut, PathId, out, page_out


class SummaryOut(msgspec.Struct):
    by_status: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    resent: int
    uncertain: int
    dead_letter: int
    dropped_edits: int
    waiting: int  # task cards of big launches the senders have not queued yet (at most)


class TroubledOut(msgspec.Struct):
    id: int
    kind: str
    status: str
    chat_id: int
    recipient: str | None
    attempts: int
    error: str | None
    resent: bool
    retried: bool
    created_at: datetime


class RetriedOut(msgspec.Struct):
    id: int
    status: str


class OutboxController(Controller):
    path = "/outbox"
    tags = ["outbox"]

    @get("/summary")
    async def summary(self, db: DB, actor: CurrentActor) -> SummaryOut:
        """Admins: outbox rows by status and kind; resent, uncertain and dead-letter counts."""
        return out(SummaryOut, await review.summary(db, actor))

    @get("/troubled")
    async def troubled(
        self, db: DB, actor: CurrentActor, limit: Limit = 100, offset: Offset = 0
    ) -> PageOut[TroubledOut]:
        """Admins: dead letters and rows left uncertain, newest first."""
        return page_out(TroubledOut, await review.troubled(db, actor, limit, offset))

    @post("/{row_id:int}/retry", status_code=200)
    async def retry(self, db: DB, actor: CurrentActor, row_id: PathId) -> RetriedOut:
        """Admins: queue a dead letter or an uncertain row again, once (audited)."""
        return out(RetriedOut, await review.retry(db, actor, row_id))


CONTROLLERS = [OutboxController]
