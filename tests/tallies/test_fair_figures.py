"""Figures that read right: laggards judged against the time elapsed, the status page's tree
with its roll-up and totals, a lead's own reach on every card, Vietnamese name order, every
week on the chart, one launch time and labels that cannot be read as the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from coordinator.base import utcnow
from coordinator.campaigns import service as campaigns
from coordinator.collation import vi_key
from coordinator.i18n import translate
from coordinator.tallies.figures import dashboard_progress
from coordinator.tallies.laggards import FAIR_SHARE, behind, elapsed_share
from coordinator.tallies.period import period_tally
from coordinator.tallies.service import campaign_breakdown
from tests.factories import _member
from tests.web.test_web_authorization import sign_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
rates = st.floats(min_value=0, max_value=1)
quotas = st.one_of(st.none(), st.integers(min_value=1, max_value=100))


@given(rates, rates, quotas, st.booleans())
def test_nobody_is_behind_before_a_fair_share_of_the_time_or_once_it_is_over(
    rate, share, quota, running
):
    if share < FAIR_SHARE or not running:
        assert not behind(rate, share, quota, running)


@given(rates, rates, rates, quotas)
def test_behind_grows_with_time_and_shrinks_with_work(rate, share, other, quota):
    if behind(rate, share, quota, True):
        assert behind(min(rate, other), share, quota, True)  # less done: still behind
        assert behind(rate, max(share, other), quota, True)  # later: still behind
    goal = quota / 100 if quota else 1.0
    if rate >= goal / 2:
        assert not behind(rate, share, quota, True)  # half the goal is never late
    if share >= FAIR_SHARE:
        assert behind(0.0, share, quota, True)  # nothing done after a fair share: late


def test_the_elapsed_share_runs_from_launch_to_deadline():
    start = datetime(2026, 12, 1, tzinfo=UTC)
    end = start + timedelta(days=10)
    assert elapsed_share(start, end, start - timedelta(days=1)) == 0.0
    assert elapsed_share(start, end, start + timedelta(days=5)) == 0.5
    assert elapsed_share(start, end, end + timedelta(days=3)) == 1.0
    assert elapsed_share(None, end, start) == 0.0


async def test_organizations_are_behind_only_once_time_has_passed_and_not_after_closing(world):
    db, coordinator = world.db, world.actor["coordinator"]
    launched = utcnow()
    cid = await world.campaign(launch_at=launched, deadline_at=launched + timedelta(days=10))
    await campaigns.launch_campaign(db, coordinator, cid, launched)
    second = await campaign_breakdown(db, coordinator, cid, now=launched + timedelta(seconds=1))
    assert second.tree and second.laggards == set()  # one second in: nobody is late
    halfway = await campaign_breakdown(db, coordinator, cid, now=launched + timedelta(days=5))
    assert halfway.laggards == {line.key for line in halfway.tree}  # nothing done by halfway
    await campaigns.close_campaign(db, coordinator, cid)
    closed = await campaign_breakdown(db, coordinator, cid, now=launched + timedelta(days=5))
    assert closed.laggards == set()  # over, not late


async def test_the_status_page_shows_the_tree_rolled_up_with_a_totals_row(world, api):
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    breakdown = await campaign_breakdown(world.db, world.actor["coordinator"], cid)
    lines = {line.key: line for line in breakdown.tree}
    province, district = lines[world.org["province"]], lines[world.org["district"]]
    commune = lines[world.org["commune"]]
    assert province.depth < district.depth < commune.depth
    order = [line.key for line in breakdown.tree]
    assert order.index(province.key) < order.index(district.key) < order.index(commune.key)
    assert province.counts.assigned == breakdown.total.assigned  # the roll-up of everything
    assert district.counts.assigned == (
        breakdown.direct[district.key].assigned + commune.counts.assigned
    )
    own = breakdown.direct.get(province.key)
    assert own is None or own.assigned < province.counts.assigned
    await sign_in(api, "coordinator")
    page = (await api.get(f"/campaigns/{cid}")).text
    table = page.split('id="by-org"', 1)[1].split("</table>", 1)[0]
    assert "<tfoot>" in table and translate("vi", "Total") in table
    assert f'class="depth-{district.depth - province.depth}"' in table
    assert translate("vi", "own: {n} assigned", n=breakdown.direct[district.key].assigned) in table


async def test_a_leads_cards_count_their_own_reach_like_the_table(world):
    db, lead = world.db, world.actor["lead"]
    for n in range(2):  # tasks outside the lead's district
        await _member(db, world.actor["admin"], world.org["district2"], f"Đoàn viên b{n}")
    launched = utcnow()
    cid = await world.campaign(targets=("province",), launch_at=launched)
    await campaigns.launch_campaign(db, world.actor["coordinator"], cid, launched)
    tally = await period_tally(
        db, lead, launched - timedelta(days=1), launched + timedelta(days=1), TZ
    )
    top = min(tally.organizations, key=lambda line: line.depth)
    assert top.key == world.org["district"]
    assert tally.total.assigned == top.counts.assigned  # not the province's
    assert sum(week.counts.assigned for week in tally.weeks) == top.counts.assigned
    everyone = await period_tally(
        db, world.actor["admin"], launched - timedelta(days=1), launched + timedelta(days=1), TZ
    )
    assert everyone.total.assigned > tally.total.assigned
    cards = await dashboard_progress(db, lead, [cid])
    breakdown = await campaign_breakdown(db, lead, cid)
    assert cards[cid]["assigned"] == breakdown.total.assigned == top.counts.assigned


async def test_the_weekly_chart_has_every_week_of_the_period_empty_ones_at_zero(world):
    launched = utcnow()
    cid = await world.campaign(launch_at=launched)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid, launched)
    tally = await period_tally(
        world.db,
        world.actor["admin"],
        launched - timedelta(days=35),
        launched + timedelta(days=1),
        TZ,
    )
    assert len(tally.weeks) >= 5
    keys = [week.key for week in tally.weeks]
    assert keys == list(range(keys[0], keys[0] + len(keys)))  # no week skipped
    assert [w.counts.assigned for w in tally.weeks[:-1]] == [0] * (len(keys) - 1)
    assert tally.weeks[-1].counts.assigned == tally.total.assigned > 0


def test_names_sort_in_vietnamese_order():
    names = ["Tỉnh đoàn", "Đoàn xã A1", "Dương Nam", "Ân", "An", "Zeta", "Ơn", "Ô", "Da", "Ba"]
    assert sorted(names, key=vi_key) == [
        "An",
        "Ân",
        "Ba",
        "Da",
        "Dương Nam",
        "Đoàn xã A1",
        "Ô",
        "Ơn",
        "Tỉnh đoàn",
        "Zeta",
    ]


async def test_the_tree_and_the_breakdown_put_d_with_stroke_after_d(world):
    cid = await world.campaign(targets=("province",))
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], cid)
    breakdown = await campaign_breakdown(world.db, world.actor["admin"], cid)
    names = [line.name for line in breakdown.by_organization]
    assert names == sorted(names, key=vi_key)
    assert names.index("Đoàn xã A1") < names.index("Huyện đoàn A")


def test_delivered_and_acknowledged_read_differently_in_vietnamese():
    delivered, acknowledged = translate("vi", "delivered"), translate("vi", "acknowledged")
    assert delivered != acknowledged
    assert not delivered.startswith(acknowledged) and not acknowledged.startswith(delivered)


async def test_the_dashboard_and_status_page_show_the_same_launch_time(world, api):
    planned = utcnow() + timedelta(hours=5)
    draft = await world.campaign(launch_at=planned)
    launched = await world.campaign(launch_at=planned)
    await campaigns.launch_campaign(world.db, world.actor["coordinator"], launched)
    await sign_in(api, "coordinator")
    dashboard = (await api.get("/")).text
    mark = f"({translate('vi', 'planned')})"
    for cid, is_planned in ((draft, True), (launched, False)):
        row = dashboard.split(f'href="/campaigns/{cid}"', 1)[1].split("</tr>", 1)[0]
        status = (await api.get(f"/campaigns/{cid}")).text.split('class="badge status-', 1)[1]
        status = status.split("</p>", 1)[0]
        assert (mark in row) is is_planned and (mark in status) is is_planned


async def test_the_demos_funnel_has_members_invited_but_not_yet_in_telegram(db):
    from coordinator.auth.scope import SYSTEM
    from coordinator.demo import load_demo
    from coordinator.tallies.funnel import activation_funnel

    await load_demo(db, members=120, if_empty=False, seed=7, say=lambda _: None)
    lines = await activation_funnel(db, SYSTEM)
    counts = max(lines, key=lambda line: line.counts.members).counts
    assert counts.members >= counts.invited > counts.linked > 0  # "invited" is its own stage


async def test_the_demo_runs_a_campaign_through_organizations_with_replies(db):
    """The demo had no campaign in 'org' mode: one is running, its focal points passed it on
    (one to its communes, which wait without a focal point) and volunteers replied."""
    from sqlmodel import col, func, select

    from coordinator.campaigns.models import Assignment, Campaign, OrganizationTask
    from coordinator.demo import load_demo

    await load_demo(db, members=120, if_empty=False, seed=7, say=lambda _: None)
    async with db.read() as session:
        running = list(
            await session.scalars(
                select(Campaign).where(Campaign.delivery_mode == "org", Campaign.status == "active")
            )
        )
        assert len(running) == 1 and running[0].id is not None
        campaign_id = running[0].id
        tasks = list(
            await session.scalars(
                select(OrganizationTask).where(OrganizationTask.campaign_id == campaign_id)
            )
        )
        done = await session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(col(Assignment.campaign_id) == campaign_id, Assignment.status == "done")
        )
    assert {t.status for t in tasks if t.parent_task_id is None} == {"passed_on"}
    assert {t.status for t in tasks if t.parent_task_id is not None} == {"pending"}
    assert done and done > 0
