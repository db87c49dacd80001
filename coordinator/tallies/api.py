"""Tallies as JSON: the leadership dashboard's numbers for a period, and one campaign's tally.

Figures come masked for the audience (tallies/masked.py): a masked count is `null` and its name
is listed in `masked` (it stands for "<5": one to four people, or any count of a group under
five), and a rate next to a masked count is `null` too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery

from coordinator.http import DB, CurrentActor, PathId
from coordinator.tallies.cascade import cascade_figures
from coordinator.tallies.figures import cached_period_figures, campaign_figures
from coordinator.tallies.masked import Figure, ShownLine, masked
from coordinator.tallies.period import COLUMNS, local_period

MASKED_DOC = (
    'Names of the counts hidden from this audience ("<5": one to four people, or any count '
    "of a group under five); each is null above, and so is any rate next to one."
)
Masked = Annotated[list[str], msgspec.Meta(description=MASKED_DOC)]
Count = Annotated[int | None, msgspec.Meta(description="null when masked (see `masked`)")]


def _plain(values: dict[str, Figure]) -> tuple[dict[str, int | None], list[str]]:
    """Masked counts as null, and their names."""
    hidden = [name for name, value in values.items() if masked(value)]
    return {n: None if masked(v) else int(v) for n, v in values.items()}, hidden  # type: ignore[arg-type]


class LineOut(msgspec.Struct):
    id: int
    name: str
    counts: dict[str, Count]
    rate: float | None
    masked: Masked


class PeriodOut(msgspec.Struct):
    start: datetime
    end: datetime
    campaigns: int
    total: LineOut
    organizations: list[LineOut]
    clubs: list[LineOut]


def _line(line: ShownLine) -> LineOut:
    c = line.counts
    counts, hidden = _plain({n: getattr(c, n) for n in COLUMNS})
    return LineOut(
        line.key, line.name, counts, None if c.rate is None else round(c.rate, 4), hidden
    )


class TallyController(Controller):
    path = "/tallies"
    tags = ["tallies"]

    @get("/")
    async def period(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        actor: CurrentActor,
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
    ) -> PeriodOut:
        """Campaigns launched from `start` to `end` (local dates, both included; default the
        last 30 days), by organization rolled up through the tree and by club."""
        tz = request.app.state.settings.timezone
        begin, after = local_period(start, end, None, tz)
        tally = await cached_period_figures(db, actor, begin, after, tz)
        return PeriodOut(
            begin,
            after,
            tally.campaigns,
            _line(ShownLine(0, "", tally.total)),
            [_line(line) for line in tally.organizations if line.counts.assigned],
            [_line(line) for line in tally.clubs],
        )


class TallyOut(msgspec.Struct):
    campaign_id: int
    assigned: Count
    by_status: dict[str, Count]
    reports_by_action: dict[str, Count]
    participation_rate: float | None
    median_minutes_to_acknowledge: float | None
    median_minutes_to_done: float | None
    quota_percent: int | None
    quota_met: bool | None
    # tallies/service.py defines these.
    unreachable: Count
    unreachable_skipped: Count
    resent: Count
    uncertain: Count
    masked: Masked  # e.g. "by_status.done", "resent"


class ResponseOut(msgspec.Struct):
    """One organization's task (delivery through organizations); minutes from the launch."""

    organization_id: int
    name: str
    parent_id: int | None
    status: str  # pending | received | passed_on | declined
    passed_on_how: list[str]  # members | clubs | groups | suborgs
    received_at: datetime | None
    passed_on_at: datetime | None
    minutes_to_received: float | None
    minutes_to_passed_on: float | None
    reached: Count
    done: Count


class ResponsesOut(msgspec.Struct):
    campaign_id: int
    median_minutes_to_received: float | None
    median_minutes_to_passed_on: float | None
    not_passed_on: int
    organizations: list[ResponseOut]


class CampaignTallyController(Controller):
    path = "/campaigns"
    tags = ["campaigns"]

    @get("/{campaign_id:int}/tally")
    async def tally(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> TallyOut:
        f = await campaign_figures(db, actor, campaign_id)
        t = f.tally
        by_status, _ = _plain(f.by_status)
        actions, _ = _plain(f.reports_by_action)
        delivery, _ = _plain(f.delivery)
        assigned, _ = _plain({"assigned": f.assigned})
        return TallyOut(
            t.campaign_id,
            assigned["assigned"],
            by_status,
            actions,
            f.participation_rate,
            t.median_minutes_to_acknowledge,
            t.median_minutes_to_done,
            t.quota_percent,
            f.quota_met,
            **delivery,
            masked=f.masked,
        )

    @get("/{campaign_id:int}/responses")
    async def responses(self, db: DB, actor: CurrentActor, campaign_id: PathId) -> ResponsesOut:
        """How each organization handed the campaign on, and how fast (organizations only:
        no one's name)."""
        f = await cascade_figures(db, actor, campaign_id)
        lines = []
        for line in f.lines:
            counts, _ = _plain({"reached": line.reached, "done": line.done})
            lines.append(
                ResponseOut(
                    line.key,
                    line.name,
                    line.parent,
                    line.status,
                    list(line.how),
                    line.received_at,
                    line.passed_on_at,
                    line.to_received,
                    line.to_passed_on,
                    counts["reached"],
                    counts["done"],
                )
            )
        medians = (f.median_to_received, f.median_to_passed_on)
        return ResponsesOut(campaign_id, *medians, f.not_passed_on, lines)


CONTROLLERS = [TallyController, CampaignTallyController]
