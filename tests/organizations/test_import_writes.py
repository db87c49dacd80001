"""The import's set-based writes: every row gets its own id and clubs across batches, a file
changes exactly what it says, and the kept member counts equal a recount after any import."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from coordinator.errors import Invalid
from coordinator.organizations import service as orgs
from coordinator.organizations.import_writes import BATCH
from coordinator.organizations.importer import import_members
from coordinator.organizations.models import Club, Member, MemberClub, Organization
from coordinator.organizations.tree import subtree_ids
from coordinator.tallies.summary import recount_summary
from tests.conftest import open_database
from tests.factories import build_world

HEADER = ["họ tên", "mã", "đơn vị", "clb", "ngôn ngữ"]
ORGS = ("Huyện đoàn A", "Đoàn xã A1")  # the district imported into and its commune
CLUBS = {"Huyện đoàn A": ("CLB club", "CLB hai"), "Đoàn xã A1": ("CLB xã",)}


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue().encode()


async def _add_clubs(world: Any) -> None:
    await orgs.create_club(world.db, None, organization_id=world.org["district"], name="CLB hai")
    await orgs.create_club(world.db, None, organization_id=world.org["commune"], name="CLB xã")


async def _state(world: Any) -> dict[tuple[str, str], tuple[str, str, frozenset[str]]]:
    """Members with a code under the district: (organization, code) -> (name, locale, clubs)."""
    async with world.db.read() as session:
        within = await subtree_ids(session, [world.org["district"]])
        names = dict(
            (
                await session.execute(
                    select(Organization.id, Organization.name).where(
                        col(Organization.id).in_(within)
                    )
                )
            ).all()
        )
        members = (
            await session.execute(
                select(Member.id, Member.organization_id, Member.code, Member.display_name)
                .add_columns(Member.locale)
                .where(col(Member.organization_id).in_(within), col(Member.code).is_not(None))
            )
        ).all()
        links = (
            await session.execute(
                select(MemberClub.member_id, Club.name).join(
                    Club, col(Club.id) == MemberClub.club_id
                )
            )
        ).all()
    clubs: dict[int, set[str]] = {}
    for member_id, club in links:
        clubs.setdefault(member_id, set()).add(club)
    return {
        (names[org], code): (name, locale, frozenset(clubs.get(mid, ())))
        for mid, org, code, name, locale in members
    }


async def test_a_file_over_several_batches_gives_every_row_its_own_member_and_clubs(world):
    await _add_clubs(world)
    rows = []
    for n in range(2 * BATCH + 345):
        org = ORGS[n % 2]
        club = CLUBS[org][n % len(CLUBS[org])] if n % 3 else ""
        rows.append([f"Người {n}", f"C{n}", org, club, "vi" if n % 4 else "en"])
    lead, district = world.actor["lead"], world.org["district"]
    first = await import_members(world.db, lead, district, _csv(rows), "big.csv")
    assert first.created == len(rows)
    expected = {(r[2], r[1]): (r[0], r[4], frozenset([r[3]] if r[3] else [])) for r in rows}
    assert await _state(world) == expected
    assert not (await recount_summary(world.db)).drifted
    # Again with every second member renamed and the clubs shifted by one row.
    for n, row in enumerate(rows):
        if n % 2:
            row[0] = f"Người {n} (mới)"
        org = row[2]
        row[3] = CLUBS[org][(n + 1) % len(CLUBS[org])] if (n + 1) % 3 else ""
    again = await import_members(world.db, lead, district, _csv(rows), "big.csv")
    assert again.created == 0 and again.updated + again.unchanged == len(rows)
    expected = {(r[2], r[1]): (r[0], r[4], frozenset([r[3]] if r[3] else [])) for r in rows}
    assert await _state(world) == expected
    assert not (await recount_summary(world.db)).drifted


ROW = st.tuples(
    st.sampled_from(["C1", "C2", "C3", "C4", "C5"]),
    st.sampled_from(ORGS),
    st.sampled_from(["An", "Bình", "Cường"]),
    st.sets(st.integers(0, 1), max_size=2),
    st.sampled_from(["vi", "en"]),
)


def _rows(drawn: list[tuple[Any, ...]]) -> list[list[str]]:
    rows = []
    for code, org, name, picks, locale in drawn:
        clubs = sorted({CLUBS[org][i % len(CLUBS[org])] for i in picks})
        rows.append([name, code, org, "; ".join(clubs), locale])
    return rows


def test_any_sequence_of_imports_writes_what_the_files_say_and_keeps_counts_exact(
    template_url, tmp_path
):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    db = run(open_database(template_url, tmp_path))
    try:
        world = run(build_world(db))
        run(_add_clubs(world))
        lead, district = world.actor["lead"], world.org["district"]

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(st.lists(ROW, min_size=1, max_size=6), min_size=1, max_size=3))
        def check(files: list[list[tuple[Any, ...]]]) -> None:
            for drawn in files:
                rows = _rows(drawn)
                before = run(_state(world))
                keys = [(r[2], r[1]) for r in rows]
                if len(set(keys)) < len(keys):  # the same member twice: refused whole
                    with pytest.raises(Invalid):
                        run(import_members(db, lead, district, _csv(rows), "p.csv"))
                    assert run(_state(world)) == before
                    continue
                result = run(import_members(db, lead, district, _csv(rows), "p.csv"))
                after = {
                    k: (r[0], r[4], frozenset(filter(None, r[3].split("; "))))
                    for k, r in zip(keys, rows, strict=True)
                }
                assert run(_state(world)) == {**before, **after}
                changed = sum(1 for k in after if k in before and before[k] != after[k])
                assert (result.created, result.updated) == (
                    sum(1 for k in after if k not in before),
                    changed,
                )
                assert not run(recount_summary(db)).drifted

        check()
    finally:
        run(db.dispose())
        loop.close()
