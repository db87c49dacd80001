"""What the sender's outcomes change outside the outbox, from the slices that own those rows
(and which tasks' cards its leases queue when a launch left them: `delivery.backlog`)."""

from __future__ import annotations

from coordinator.campaigns import launch  # noqa: F401  registers the task cards' sources
from coordinator.campaigns.tasks import record_delivered
from coordinator.delivery.store import Settle
from coordinator.organizations.reachability import mark_unreachable, migrate_chat

SETTLE = Settle(delivered=record_delivered, unreachable=mark_unreachable, migrated=migrate_chat)
