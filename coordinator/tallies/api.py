"""Tallies as JSON: the leadership dashboard's numbers for a period."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery

from coordinator.http import DB, CurrentActor
from coordinator.tallies.cache import TALLIES, audience_key
from coordinator.tallies.period import COLUMNS, Line, hide_small, local_period, period_tally


class LineOut(msgspec.Struct):
    id: int
    name: str
    counts: dict[str, int | str]
    rate: float | None


class PeriodOut(msgspec.Struct):
    start: datetime
    end: datetime
    campaigns: int
    total: LineOut
    organizations: list[LineOut]
    clubs: list[LineOut]


def _line(line: Line, hide: bool) -> LineOut:
    c = line.counts
    values: dict[str, int | str] = {n: getattr(c, n) for n in COLUMNS}
    if hide:
        values = {n: hide_small(int(v), c.assigned) for n, v in values.items()}
    small = hide and 0 < c.assigned < 5
    return LineOut(line.key, line.name, values, None if small else round(c.rate, 4))


class TallyController(Controller):
    path = "/tallies"
    tags = ["tallies"]

    @get("/")
    async def period(
        self,
        request: Request,
        db: DB,
        actor: CurrentActor,
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
    ) -> PeriodOut:
        """Campaigns launched from `start` to `end` (local dates, both included; default the
        last 30 days), by organization rolled up through the tree and by club."""
        tz = request.app.state.settings.timezone
        begin, after = local_period(start, end, None, tz)
        tally, _ = await TALLIES.get(
            ("api", db.url, audience_key(actor), begin, after),
            lambda: period_tally(db, actor, begin, after, tz),
        )
        hide = actor.role == "leadership"
        return PeriodOut(
            begin,
            after,
            tally.campaigns,
            _line(Line(0, "", tally.total), hide),
            [_line(line, hide) for line in tally.organizations if line.counts.assigned],
            [_line(line, hide) for line in tally.clubs],
        )


CONTROLLERS = [TallyController]
