"""The member pages as a lead meets them: names link to a member page; add, edit, move,
deactivate and reactivate; bulk actions summarised; errors inline in Vietnamese, input kept."""

import os
from contextlib import asynccontextmanager

from litestar.testing import AsyncTestClient
from sqlmodel import select

from coordinator.app import create_app
from coordinator.organizations.models import Member
from coordinator.settings import read_settings
from tests.web.test_web_authorization import sign_in


@asynccontextmanager
async def signed_in(world, who: str):
    app = create_app(read_settings({**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, who)
        yield client


def _form(client, **fields):
    return {**fields, "_csrf_token": client.cookies["coordinator_csrf"]}


async def _member(world, member_id: int) -> Member:
    async with world.db.read() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        return member


async def test_names_link_to_a_member_page_with_organization_and_clubs(world):
    async with signed_in(world, "lead") as client:
        listing = await client.get("/members")
        assert f'href="/members/{world.member["d1"]}"' in listing.text
        assert 'name="member_ids"' in listing.text
        one = await client.get(f"/members/{world.member['d1']}")
    assert one.status_code == 200
    assert "Huyện đoàn A" in one.text and "Nhiệm vụ và báo cáo" in one.text
    assert f"/members/{world.member['d1']}/deactivate" in one.text


async def test_a_coordinator_sees_the_member_page_but_no_actions(world):
    async with signed_in(world, "coordinator") as client:
        one = await client.get(f"/members/{world.member['d1']}")
        listing = await client.get("/members")
    assert one.status_code == 200
    assert "/deactivate" not in one.text and "/edit" not in one.text
    assert 'name="member_ids"' not in listing.text


async def test_leadership_and_the_wrong_lead_never_see_a_member_page(world):
    for who in ("leadership", "outsider-lead"):
        async with signed_in(world, who) as client:
            response = await client.get(f"/members/{world.member['d1']}", follow_redirects=False)
        assert response.status_code in (403, 404), who
        assert "Đoàn viên d1" not in response.text


async def test_a_lead_adds_a_member_and_lands_on_their_page(world):
    async with signed_in(world, "lead") as client:
        response = await client.post(
            "/members",
            data=_form(
                client,
                organization_id=str(world.org["commune"]),
                display_name="Trần Thị Mới",
                code="M-1",
                locale="vi",
            ),
        )
    assert response.status_code == 200
    assert "Trần Thị Mới" in response.text and "Đã thêm đoàn viên" in response.text


async def test_a_failed_add_shows_errors_inline_in_vietnamese_and_keeps_input(world):
    async with signed_in(world, "lead") as client:
        response = await client.post(
            "/members",
            data=_form(
                client,
                organization_id=str(world.org["district"]),
                display_name=" ",
                code="GIỮ-LẠI",
                locale="vi",
            ),
        )
    assert response.status_code == 200
    assert "1-200 ký tự" in response.text and "Không thể thêm đoàn viên." in response.text
    assert 'value="GIỮ-LẠI"' in response.text
    assert "1-200 characters" not in response.text and 'aria-invalid="true"' in response.text


async def test_a_lead_edits_and_moves_a_member_within_reach_only(world):
    d2 = world.member["d2"]
    async with signed_in(world, "lead") as client:
        page = await client.get(f"/members/{d2}/edit")
        assert 'value="Đoàn viên d2"' in page.text
        moved = await client.post(
            f"/members/{d2}",
            data=_form(
                client,
                organization_id=str(world.org["commune"]),
                display_name="Đoàn viên hai",
                locale="en",
            ),
        )
        assert moved.status_code == 200
        refused = await client.post(
            f"/members/{d2}",
            data=_form(
                client, organization_id=str(world.org["district2"]), display_name="x", locale="vi"
            ),
            follow_redirects=False,
        )
    assert refused.status_code == 403
    member = await _member(world, d2)
    assert (member.organization_id, member.display_name, member.locale) == (
        world.org["commune"],
        "Đoàn viên hai",
        "en",
    )


async def test_a_lead_deactivates_and_reactivates_a_member(world):
    d1 = world.member["d1"]
    async with signed_in(world, "lead") as client:
        off = await client.post(f"/members/{d1}/deactivate", data=_form(client))
        assert "/reactivate" in off.text
        assert (await _member(world, d1)).deactivated_at is not None
        on = await client.post(f"/members/{d1}/reactivate", data=_form(client))
        assert "/deactivate" in on.text
    assert (await _member(world, d1)).deactivated_at is None


async def test_the_wrong_lead_cannot_deactivate(world):
    async with signed_in(world, "outsider-lead") as client:
        response = await client.post(
            f"/members/{world.member['d1']}/deactivate",
            data=_form(client),
            follow_redirects=False,
        )
    assert response.status_code == 404
    assert (await _member(world, world.member["d1"])).deactivated_at is None


async def test_a_bulk_move_says_how_many_moved(world):
    chosen = [str(world.member["d1"]), str(world.member["d2"])]
    async with signed_in(world, "lead") as client:
        response = await client.post(
            "/members/bulk",
            data=_form(
                client,
                action="move",
                member_ids=chosen,
                organization_id=str(world.org["commune"]),
                back=f"/members?organization_id={world.org['commune']}&",
            ),
        )
    assert "Đã chuyển 2 đoàn viên." in response.text
    assert str(response.url).endswith(f"organization_id={world.org['commune']}&")
    assert (await _member(world, world.member["d2"])).organization_id == world.org["commune"]


async def test_a_bulk_action_with_a_refused_member_does_nothing_and_names_them(world):
    chosen = [str(world.member["d1"]), str(world.member["o1"])]
    async with signed_in(world, "lead") as client:
        response = await client.post(
            "/members/bulk",
            data=_form(client, action="deactivate", member_ids=chosen, back="https://evil.test/"),
        )
    assert "Chưa thực hiện gì: 1 đoàn viên bị từ chối" in response.text
    assert response.url.path == "/members"
    async with world.db.read() as session:
        gone = await session.scalars(select(Member).where(Member.deactivated_at.is_not(None)))  # type: ignore[union-attr]
        assert gone.all() == []


async def test_bulk_invitations_print_a_sheet(world):
    async with signed_in(world, "lead") as client:
        response = await client.post(
            "/members/bulk",
            data=_form(client, action="invite", member_ids=[str(world.member["c_unlinked"])]),
        )
    assert response.status_code == 200
    assert "Đoàn viên c_unlinked" in response.text and "https://t.me/" in response.text


async def test_the_member_page_lists_tasks_with_status_times_and_proof(world):
    from coordinator.base import utcnow
    from coordinator.campaigns.models import Assignment, Report

    campaign = await world.campaign()
    async with world.db.write() as session:
        task = Assignment(
            campaign_id=campaign, member_id=world.member["d1"], status="done", done_at=utcnow()
        )
        session.add(task)
        await session.flush()
        assert task.id is not None
        session.add(
            Report(
                assignment_id=task.id,
                member_id=world.member["d1"],
                action="share",
                proof_url="https://www.facebook.com/share/p/123",
            )
        )
    async with signed_in(world, "lead") as client:
        one = await client.get(f"/members/{world.member['d1']}")
    assert f'href="/campaigns/{campaign}"' in one.text
    assert "đã làm xong" in one.text and "chia sẻ" in one.text
    assert 'href="https://www.facebook.com/share/p/123"' in one.text
