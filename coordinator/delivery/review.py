"""What operators see of the outbox: counts, rows that need a person, and a retry for those.

Rows that need a person are dead letters (`failed`) and rows left `uncertain` after their one
resend (`store.after_uncertain`). Admins only; they may see member names (privacy rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.base import utcnow
from coordinator.db import Database
from coordinator.delivery import backlog
from coordinator.delivery.models import OutboxMessage
from coordinator.errors import Conflict, NotFound
from coordinator.pagination import Page, check_window

NEEDS_A_PERSON = ("failed", "uncertain")
# A bot token (digits, colon, 30-odd characters) must never reach a page, whatever an error says.
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")


@dataclass(frozen=True)
class Summary:
    by_status: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    resent: int  # rows sent once more because the first try was uncertain
    uncertain: int  # uncertain after the resend too: an operator decides
    dead_letter: int  # failed for good
    dropped_edits: int  # counter edits given up (the next edit carries fresh counts)
    waiting: int = 0  # task cards big launches left to the senders, not queued yet (at most)


@dataclass(frozen=True)
class TroubledRow:
    id: int
    kind: str
    status: str
    chat_id: int
    recipient: str | None  # the member's name or the group's title, when known
    attempts: int
    error: str | None
    resent: bool
    retried: bool
    created_at: datetime


def redact(text: str | None) -> str | None:
    return _TOKEN.sub("<token>", text) if text else text


async def summary(db: Database, actor: Actor) -> Summary:
    policy.require(policy.administers(actor))
    resent_flag = OutboxMessage.payload["resent"].as_boolean()
    async with db.read() as session:
        counts = (
            await session.execute(
                select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                    col(OutboxMessage.kind), col(OutboxMessage.status)
                )
            )
        ).all()
        resent = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(resent_flag.is_(True))
        )
        waiting, _ = await backlog.waiting(session)
    by_status: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count in counts:
        by_status[status] = by_status.get(status, 0) + count
        by_kind.setdefault(kind, {})[status] = count
    return Summary(
        by_status=by_status,
        by_kind=by_kind,
        resent=resent or 0,
        uncertain=by_status.get("uncertain", 0),
        dead_letter=by_status.get("failed", 0),
        dropped_edits=by_kind.get("edit", {}).get("cancelled", 0),
        waiting=waiting,
    )


async def troubled(db: Database, actor: Actor, limit: int, offset: int) -> Page[TroubledRow]:
    """Dead letters and rows uncertain for good, newest first, with who they were for."""
    policy.require(policy.administers(actor))
    check_window(limit, offset)
    stmt = select(OutboxMessage).where(col(OutboxMessage.status).in_(NEEDS_A_PERSON))
    async with db.read() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (
            await session.scalars(
                stmt.order_by(col(OutboxMessage.id).desc()).limit(limit).offset(offset)
            )
        ).all()
        names = await scope.chat_names(session, actor, {r.chat_id for r in rows})
    items = [
        TroubledRow(
            id=r.id or 0,
            kind=r.kind,
            status=r.status,
            chat_id=r.chat_id,
            recipient=names.get(r.chat_id),
            attempts=r.attempts,
            error=redact(r.error),
            resent=bool(r.payload.get("resent")),
            retried=bool(r.payload.get("retried")),
            created_at=r.created_at,
        )
        for r in rows
    ]
    return Page(items=items, total=total or 0, limit=limit, offset=offset)


async def retry(db: Database, actor: Actor, row_id: int) -> OutboxMessage:
    """Queue a dead letter or an uncertain row again, once; audited. An assignment sent again
    this way says that it is a copy when its first try was uncertain."""
    policy.require(policy.administers(actor))
    async with db.write() as session:
        row = await session.get(OutboxMessage, row_id, with_for_update=True)
        if row is None:
            raise NotFound("No such outbox message.")
        if row.status not in NEEDS_A_PERSON:
            raise Conflict("Only failed or uncertain messages can be retried.", code="not_stuck")
        if row.payload.get("retried"):
            raise Conflict("This message was retried once already.", code="retried")
        was = row.status
        audit(session, actor, "outbox.retry", "outbox_message", row.id, status=was)
        row.payload = {**row.payload, "retried": True}
        row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
        row.lease_until, row.error = None, f"retried by an operator (was {was})"
        return row
