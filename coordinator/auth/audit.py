"""Appends to the audit log inside the caller's transaction, so the event lands with the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from coordinator.auth.models import AuditEvent
from coordinator.auth.scope import Actor


def audit(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    object_type: str = "",
    object_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            actor_user_id=actor.user_id if actor else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )
    )
