"""Tally pages: the dashboard, participation (with its exports), a campaign's status and the
progress partial htmx polls. Figures come masked for the audience (tallies/figures.py)."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from coordinator.campaigns import approvals, held
from coordinator.campaigns import service as campaigns
from coordinator.errors import Invalid
from coordinator.http import DB, CurrentActor, OptionalQueryId, PathId
from coordinator.i18n import translate
from coordinator.tallies import cascade, exports, figures
from coordinator.tallies.period import local_period
from coordinator.web.context import AnyRequest, locale_of, page

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CLUBS_SHOWN = 10


def _focus(lines: list[Any], org: int | None) -> list[Any]:
    """One level at a time: the top of the tree and what is right below it, or one chosen
    organization and its direct children (the export has every line)."""
    if org is not None and any(line.key == org for line in lines):
        return [line for line in lines if line.key == org or line.parent == org]
    top = min((line.depth for line in lines), default=0)
    return [line for line in lines if line.depth <= top + 1]


def period(
    request: AnyRequest, start: str | None, end: str | None, days: int | None
) -> tuple[datetime, datetime]:
    """[start, end) in UTC from the query's local dates; the last 30 days by default."""
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise Invalid("Dates look like 2026-11-30.") from None
    return local_period(first, last, days, request.app.state.settings.timezone)


def _body_context(tally: figures.PeriodFigures, org: int | None) -> dict[str, Any]:
    first, last = tally.start.date(), figures.last_day(tally.end)
    clubs = tally.clubs
    return dict(
        tally=tally,
        org_lines=_focus(tally.organizations, org),
        funnel_lines=_focus(tally.funnel, org),
        with_children={line.parent for line in tally.organizations},
        club_lines=clubs if len(clubs) <= 2 * CLUBS_SHOWN else None,
        best_clubs=clubs[:CLUBS_SHOWN],
        last_clubs=clubs[-CLUBS_SHOWN:],
        first=first,
        last=last,
        query=f"start={first.isoformat()}&end={last.isoformat()}",
    )


@get("/participation")
async def participation_page(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    days: OptionalQueryId = None,
    org: OptionalQueryId = None,
) -> Template:
    lang = locale_of(request)
    tz = request.app.state.settings.timezone
    first, after = period(request, start, end, days)
    engine = request.app.template_engine
    assert engine is not None  # create_app configures Jinja

    def render(tally: figures.PeriodFigures, counted_at: datetime) -> str:
        template = engine.get_template("tallies/participation_body.html")
        context = _body_context(tally, org)
        return str(
            template.render(_=partial(translate, lang), lang=lang, counted_at=counted_at, **context)
        )

    body = await figures.participation_body(db, actor, first, after, tz, (org, lang), render)
    return page(
        request,
        "tallies/participation.html",
        title=translate(lang, "Participation"),
        actor=actor,
        body=body,
    )


@get("/participation/export/{fmt:str}")
async def participation_export(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    fmt: FromPath[str],
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    table: FromQuery[str] = "organizations",
) -> Stream:
    """XLSX: organizations and clubs, one sheet each; CSV: one of them (`table=clubs`)."""
    lang = locale_of(request)
    tz = request.app.state.settings.timezone
    first, after = period(request, start, end, None)
    _check_format(fmt)
    export = await exports.period_export(db, actor, first, after, tz, lang)
    if fmt == "csv" and table == "clubs":
        export.tables.reverse()
    since, until = export.period or ("", "")
    title = translate(lang, "Participation") + f" {since} – {until}"
    return await _download(request, db, actor, fmt, export, title)


@get("/campaigns/{campaign_id:int}/export/{fmt:str}")
async def campaign_export(
    request: AnyRequest,
    db: DB,
    actor: CurrentActor,
    campaign_id: PathId,
    fmt: FromPath[str],
    table: FromQuery[str] = "tasks",
) -> Stream:
    """XLSX: the tasks (or, for leadership, organizations) and, for a campaign delivered
    through organizations, their response times, one sheet each; CSV: one (`table=responses`)."""
    lang = locale_of(request)
    _check_format(fmt)
    detail = await campaigns.get_campaign(db, actor, campaign_id)  # NotFound before any byte
    tz = request.app.state.settings.timezone
    export = await exports.campaign_export(db, actor, campaign_id, tz, lang)
    if fmt == "csv" and table == "responses" and len(export.tables) > 1:
        export.tables.reverse()
        export.filename += "-responses"
    return await _download(request, db, actor, fmt, export, detail.campaign.title)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise Invalid("Export as csv or xlsx.")


async def _download(
    request: AnyRequest, db: DB, actor: Any, fmt: str, export: exports.Export, title: str
) -> Stream:
    """Audited before the first byte, so an export cut short is on record too."""
    lang, tz = locale_of(request), request.app.state.settings.timezone
    await exports.record_export(db, actor, export, fmt)
    body = (
        exports.csv_stream(export.tables[0], lang, tz)
        if fmt == "csv"
        else exports.xlsx_stream(export, lang, tz, title)
    )
    return Stream(
        body,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{export.filename}.{fmt}"'},
    )


@get("/")
async def dashboard(request: Request[Any, Any, Any], db: DB, actor: CurrentActor) -> Template:
    lang = locale_of(request)
    recent = await campaigns.list_campaigns(db, actor, None, 10, 0)
    ids = [c.id for c in recent.items if c.id is not None]
    return page(
        request,
        "tallies/dashboard.html",
        title=translate(lang, "Dashboard"),
        actor=actor,
        campaigns=recent,
        progress=await figures.dashboard_progress(db, actor, ids),
        waiting=await approvals.waiting_for(db, actor),
    )


@get("/campaigns/{campaign_id:int}")
async def status_page(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    lang = locale_of(request)
    detail = await campaigns.get_campaign(db, actor, campaign_id)
    breakdown = await figures.campaign_progress(db, actor, campaign_id)
    return page(
        request,
        "tallies/campaign_status.html",
        title=detail.campaign.title,
        actor=actor,
        crumbs=[("/campaigns", translate(lang, "Campaigns"))],
        campaign=detail.campaign,
        items=detail.items,
        breakdown=breakdown,
        cascade=await _cascade(db, actor, detail.campaign, breakdown),
        approval=await approvals.approval_of(db, actor, detail.campaign),
        load=await held.load_of(db, actor, campaign_id),
    )


async def _cascade(
    db: DB, actor: CurrentActor, campaign: Any, breakdown: figures.BreakdownFigures
) -> cascade.CascadeFigures | None:
    """The organizations' part, for a campaign delivered through them."""
    if campaign.delivery_mode != "org":
        return None
    return await cascade.cascade_figures(db, actor, campaign.id, breakdown)


@get("/campaigns/{campaign_id:int}/progress")
async def progress_partial(
    request: AnyRequest, db: DB, actor: CurrentActor, campaign_id: PathId
) -> Template:
    """htmx polls this while the campaign runs: the status page updates without a reload."""
    detail = await campaigns.get_campaign(db, actor, campaign_id)
    breakdown = await figures.campaign_progress(db, actor, campaign_id)
    return page(
        request,
        "tallies/progress.html",
        title="",
        actor=actor,
        campaign=detail.campaign,
        breakdown=breakdown,
        cascade=await _cascade(db, actor, detail.campaign, breakdown),
    )


ROUTES = [
    dashboard,
    participation_page,
    participation_export,
    campaign_export,
    status_page,
    progress_partial,
]
