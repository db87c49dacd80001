"""The tallies as their audience sees them: `policy.counts_only(actor)` is asked here, once per
tally, and every surface (pages, partials, exports, digests, the API) takes these figures as
they are (masking: tallies/masked.py).

Page tallies are cached per audience (tallies/cache.py): the participation page's tables are
rendered once per tally, audience, level and language, and a campaign's progress is shared for
2 s by everyone who sees the same lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coordinator.auth import policy, scope
from coordinator.auth.scope import Actor
from coordinator.db import Database
from coordinator.tallies.cache import PROGRESS, TALLIES, audience_key
from coordinator.tallies.funnel import activation_funnel
from coordinator.tallies.masked import (
    Figure,
    Figures,
    ShownLine,
    masked,
    rate_of,
    shown,
    shown_fields,
    shown_line,
)
from coordinator.tallies.period import PeriodTally, period_tally, with_trends
from coordinator.tallies.service import (
    DELIVERY_FIGURES,
    CampaignTally,
    campaign_breakdown,
    campaign_tally,
    progress_of,
)


@dataclass(frozen=True)
class FunnelFigures:
    key: int
    name: str
    depth: int
    parent: int | None
    counts: dict[str, Figure]  # members, invited, linked, active


@dataclass
class PeriodFigures:
    """A `PeriodTally` for one audience; `previous`: the period before's total."""

    start: datetime
    end: datetime
    total: Figures
    organizations: list[ShownLine]
    clubs: list[ShownLine]
    weeks: list[ShownLine]
    campaigns: int
    counts_only: bool
    previous: Figures | None = None
    funnel: list[FunnelFigures] = field(default_factory=list)


def _period(tally: PeriodTally, hide: bool, previous: PeriodTally | None = None) -> PeriodFigures:
    before_orgs = {line.key: line.counts for line in previous.organizations} if previous else {}
    before_clubs = {line.key: line.counts for line in previous.clubs} if previous else {}
    return PeriodFigures(
        tally.start,
        tally.end,
        Figures.of(tally.total, hide),
        [shown_line(line, hide, before_orgs.get(line.key)) for line in tally.organizations],
        [shown_line(line, hide, before_clubs.get(line.key)) for line in tally.clubs],
        [shown_line(line, hide) for line in tally.weeks],
        tally.campaigns,
        hide,
        Figures.of(previous.total, hide) if previous else None,
    )


async def period_figures(
    db: Database, actor: Actor, start: datetime, end: datetime, tz: ZoneInfo
) -> PeriodFigures:
    """Campaigns launched in [start, end), as the actor may see them (exports, digests)."""
    return _period(await period_tally(db, actor, start, end, tz), policy.counts_only(actor))


async def cached_period_figures(
    db: Database, actor: Actor, start: datetime, end: datetime, tz: ZoneInfo
) -> PeriodFigures:
    """`period_figures`, shared for a minute by actors who see the same (the API)."""
    figures, _ = await TALLIES.get(
        ("api", db.url, audience_key(actor), start, end),
        lambda: period_figures(db, actor, start, end, tz),
    )
    return figures


async def participation(
    db: Database, actor: Actor, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[PeriodFigures, float]:
    """The participation page's figures (with trends against the period before and the
    activation funnel), cached; and when they were counted (a time.time() stamp)."""
    hide = policy.counts_only(actor)

    async def count() -> PeriodFigures:
        tally = await period_tally(db, actor, start, end, tz)
        previous = await period_tally(db, actor, start - (end - start), start, tz)
        figures = _period(with_trends(tally, previous), hide, previous)
        figures.funnel = [
            FunnelFigures(
                line.key,
                line.name,
                line.depth,
                line.parent,
                shown_fields(line.counts, hide, line.counts.members),
            )
            for line in await activation_funnel(db, actor)
        ]
        return figures

    return await TALLIES.get(("page", db.url, audience_key(actor), start, end), count)


async def participation_body(
    db: Database,
    actor: Actor,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    variant: tuple[Any, ...],
    render: Callable[[PeriodFigures, datetime], str],
) -> str:
    """The page's tables rendered once per tally, audience and `variant` (level, language):
    under load the rendering, not the counting, was the cost of this page."""
    figures, counted_at = await participation(db, actor, start, end, tz)

    async def rendered() -> str:
        return render(figures, datetime.fromtimestamp(counted_at, tz))

    key = ("html", db.url, audience_key(actor), start, end, counted_at, *variant)
    body, _ = await TALLIES.get(key, rendered)
    return body


def last_day(end: datetime) -> Any:
    return (end - timedelta(days=1)).date()


# ---- one campaign ----


@dataclass
class BreakdownFigures:
    """A campaign's progress (tallies/service.py `Breakdown`) for one audience."""

    total: Figures
    by_organization: list[ShownLine]
    by_club: list[ShownLine]
    laggards: set[int]
    delivery: dict[str, Figure]
    quota_met: bool | None  # None: no quota, or a hidden rate
    tree: list[ShownLine] = field(default_factory=list)  # rolled up, in tree order
    direct: dict[int, Figures] = field(default_factory=dict)  # each organization's own


def _quota_met(quota: int | None, figures: Figures) -> bool | None:
    if not quota or figures.rate is None or not figures.assigned:
        return None
    return figures.rate * 100 >= quota


async def breakdown_figures(db: Database, actor: Actor, campaign_id: int) -> BreakdownFigures:
    hide = policy.counts_only(actor)
    async with db.read() as session:
        campaign = await scope.visible_campaign(session, actor, campaign_id)
    raw = await campaign_breakdown(db, actor, campaign_id)
    total = Figures.of(raw.total, hide)
    tree = [shown_line(line, hide) for line in raw.tree]
    shown_rate = {line.key for line in tree if line.counts.rate is not None}
    return BreakdownFigures(
        total,
        [shown_line(line, hide) for line in raw.by_organization],
        [shown_line(line, hide) for line in raw.by_club],
        raw.laggards & shown_rate,  # "behind" bounds a rate: not next to a hidden one
        shown_fields(raw.delivery, hide, raw.total.assigned),
        _quota_met(campaign.quota_percent, total),
        tree,
        {key: Figures.of(counts, hide) for key, counts in raw.direct.items()},
    )


async def campaign_progress(db: Database, actor: Actor, campaign_id: int) -> BreakdownFigures:
    """The campaign's progress, shared for 2 s by everyone who sees the same lines."""
    async with db.read() as session:  # the visibility check is never cached
        await scope.visible_campaign(session, actor, campaign_id)
    value, _ = await PROGRESS.get(
        (db.url, campaign_id, audience_key(actor)),
        lambda: breakdown_figures(db, actor, campaign_id),
    )
    return value


async def dashboard_progress(
    db: Database, actor: Actor, campaign_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Done of assigned, and its rate, for the dashboard's list of campaigns."""
    hide = policy.counts_only(actor)
    out: dict[int, dict[str, Any]] = {}
    for campaign_id, counts in (await progress_of(db, actor, campaign_ids)).items():
        assigned = counts["assigned"]
        values = {n: shown(v, hide, assigned) for n, v in counts.items()}
        out[campaign_id] = {**values, "rate": rate_of(values["done"], values["assigned"])}
    return out


@dataclass
class CampaignFigures:
    """`CampaignTally` for one audience: masked counts are MASKED, and so hide their rate."""

    tally: CampaignTally
    assigned: Figure
    by_status: dict[str, Figure]
    reports_by_action: dict[str, Figure]
    participation_rate: float | None
    quota_met: bool | None
    delivery: dict[str, Figure]

    @property
    def masked(self) -> list[str]:
        """The names of the masked figures (the API says which are hidden)."""
        named = [
            ("assigned", self.assigned),
            *((f"by_status.{k}", v) for k, v in self.by_status.items()),
            *((f"reports_by_action.{k}", v) for k, v in self.reports_by_action.items()),
            *self.delivery.items(),
        ]
        return [name for name, value in named if masked(value)]


async def campaign_figures(db: Database, actor: Actor, campaign_id: int) -> CampaignFigures:
    hide = policy.counts_only(actor)
    t = await campaign_tally(db, actor, campaign_id)
    base = t.assigned

    def all_shown(values: dict[str, int]) -> dict[str, Figure]:
        return {n: shown(v, hide, base) for n, v in values.items()}

    assigned = shown(base, hide, base)
    by_status = all_shown(t.by_status)
    rate = rate_of(by_status.get("done", 0), assigned)
    participation_rate = None if rate is None and base else t.participation_rate
    delivery = all_shown({name: getattr(t.delivery, name) for name in DELIVERY_FIGURES})
    quota_met = t.quota_met if participation_rate is not None else None
    return CampaignFigures(
        t,
        assigned,
        by_status,
        all_shown(t.reports_by_action),
        participation_rate,
        quota_met,
        delivery,
    )
