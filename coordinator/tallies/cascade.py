"""The cascade of a campaign delivered through organizations, as its audience sees it: per
organization task, in tree order, when it was received and passed on (and how), or why it
could not be, what its branch reached and did, and the response times from the launch with
their medians. One place for the status page, its live partial and the exports.

Organizations are not people: leadership sees every line, with counts masked as everywhere
(tallies/masked.py) and a typed reason for "Can't" replaced by its category, since a focal
point may write a name in it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from coordinator.auth import policy, scope
from coordinator.auth.scope import Actor
from coordinator.campaigns.cascade_messages import CHOICE_LABELS, REASON_LABELS, STATUS_LABELS
from coordinator.campaigns.models import OrganizationTask
from coordinator.collation import vi_key
from coordinator.db import Database
from coordinator.i18n import translate
from coordinator.organizations.models import Organization
from coordinator.organizations.tree import tree_lines
from coordinator.tallies.figures import BreakdownFigures, campaign_progress
from coordinator.tallies.masked import Figure, masked

NOT_PASSED_ON = ("pending", "received")  # a focal point still has to pass these on


@dataclass(frozen=True)
class CascadeLine:
    """One organization's task. `reason` is a message id (a category) or what was typed."""

    key: int  # the organization
    name: str
    depth: int
    parent: int | None
    task_id: int
    status: str
    how: tuple[str, ...]
    received_at: datetime | None
    passed_on_at: datetime | None
    declined_at: datetime | None
    reason: str | None
    reached: Figure  # tasks of the organization and below that reached Telegram
    done: Figure
    to_received: float | None  # minutes from the launch
    to_passed_on: float | None

    @property
    def not_passed_on(self) -> bool:
        return self.status in NOT_PASSED_ON

    @property
    def id(self) -> int:
        """The task's id, as on an `OrganizationTask` (the remind button's slot reads it)."""
        return self.task_id

    @property
    def organization_id(self) -> int:
        return self.key

    @property
    def how_labels(self) -> list[str]:
        """The pass-on choices applied, as message ids (the bot's wording, for exports)."""
        return [CHOICE_LABELS[choice] for choice in self.how if choice in CHOICE_LABELS]

    @property
    def how_short(self) -> list[str]:
        """The same in a word each, for a phone's narrow column."""
        return [f"how:{choice}" for choice in self.how if choice in CHOICE_LABELS]


@dataclass
class CascadeFigures:
    launched_at: datetime | None
    lines: list[CascadeLine] = field(default_factory=list)
    median_to_received: float | None = None
    median_to_passed_on: float | None = None

    @property
    def not_passed_on(self) -> int:
        return sum(1 for line in self.lines if line.not_passed_on)

    @property
    def declined(self) -> int:
        return sum(1 for line in self.lines if line.status == "declined")


def minutes_after(start: datetime | None, moment: datetime | None) -> float | None:
    """Minutes from `start` to `moment`, to a tenth; None when either is missing."""
    if start is None or moment is None:
        return None
    return round((moment - start).total_seconds() / 60, 1)


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are there, to a tenth; None when none is."""
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def shown_reason(reason: str | None, sees_names: bool) -> str | None:
    """A button's reason as its label; typed text only for those who may see names."""
    if reason is None:
        return None
    if reason in REASON_LABELS:
        return REASON_LABELS[reason]
    return reason if sees_names else REASON_LABELS["other"]


async def cascade_figures(
    db: Database, actor: Actor, campaign_id: int, progress: BreakdownFigures | None = None
) -> CascadeFigures:
    """The campaign's organization tasks the actor may see (a lead: their own subtree), with
    reached and done from the campaign's progress (`progress`, or counted here)."""
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
        rows = (
            await session.execute(
                select(OrganizationTask, Organization.name, Organization.parent_id)
                .join(Organization, col(Organization.id) == OrganizationTask.organization_id)
                .where(OrganizationTask.campaign_id == campaign_id)
            )
        ).all()
    own = policy.own_subtree(actor)
    found = {
        task.organization_id: (task, name, parent)
        for task, name, parent in rows
        if own is None or task.organization_id in own
    }
    progress = progress or await campaign_progress(db, actor, campaign_id)
    branch = {line.key: line.counts for line in progress.tree}
    ordered = sorted(found.items(), key=lambda item: vi_key(item[1][1]))
    launched, names = campaign.launched_at, policy.sees_names(actor)
    lines = []
    for place in tree_lines((org, parent) for org, (_, _, parent) in ordered):
        task, name, _ = found[place.id]
        counts = branch.get(place.id)
        lines.append(
            CascadeLine(
                place.id,
                name,
                place.depth,
                place.parent_id,
                task.id or 0,
                task.status,
                tuple(task.passed_on_how),
                task.received_at,
                task.passed_on_at,
                task.declined_at,
                shown_reason(task.decline_reason, names),
                counts.delivered if counts else 0,
                counts.done if counts else 0,
                minutes_after(launched, task.received_at),
                minutes_after(launched, task.passed_on_at),
            )
        )
    return CascadeFigures(
        launched,
        lines,
        median(line.to_received for line in lines),
        median(line.to_passed_on for line in lines),
    )


def response_rows(figures: CascadeFigures, lang: str) -> list[list[Any]]:
    """The export's rows (tallies/exports.py `RESPONSE_COLUMNS`): one per organization task,
    its level from the top of the tree shown, then the medians."""
    top = min((line.depth for line in figures.lines), default=0)
    rows: list[list[Any]] = []
    for line in figures.lines:
        reached, done = (str(v) if masked(v) else v for v in (line.reached, line.done))
        rows.append(
            [
                line.name,
                line.depth - top,
                translate(lang, STATUS_LABELS.get(line.status, line.status)),
                line.received_at,
                line.passed_on_at,
                ", ".join(translate(lang, label) for label in line.how_labels),
                translate(lang, line.reason) if line.reason else "",
                line.to_received,
                line.to_passed_on,
                reached,
                done,
            ]
        )
    medians = [figures.median_to_received, figures.median_to_passed_on]
    rows.append([translate(lang, "Median"), None, "", None, None, "", "", *medians, None, None])
    return rows
