"""A demo province, built through the same services a real user goes through."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlmodel import col, func, select, update

from coordinator.auth.passwords import new_token, token_digest
from coordinator.auth.scope import SYSTEM
from coordinator.auth.service import create_user
from coordinator.base import utcnow
from coordinator.campaigns import reports
from coordinator.campaigns import service as campaigns
from coordinator.campaigns.models import Assignment
from coordinator.db import Database
from coordinator.demo_org import org_campaign
from coordinator.errors import Conflict
from coordinator.organizations import agreements, importer
from coordinator.organizations import service as orgs
from coordinator.organizations.models import Invite, Member, Organization

DEMO_PASSWORD = "demo-password-2026"
FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Đức", "Thu", "Hoài", "Quốc", "Bảo", "Gia"]
GIVEN = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Huy",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Nga",
    "Phúc",
    "Quân",
    "Quỳnh",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Trung",
    "Tuấn",
    "Uyên",
    "Vy",
    "Yến",
]
TREE = [  # (key, name, kind, parent key)
    ("province", "Tỉnh đoàn Bình Minh", "province", None),
    ("city", "Thành đoàn Bình Minh", "district", "province"),
    ("d_north", "Huyện đoàn Bắc Sơn", "district", "province"),
    ("d_south", "Huyện đoàn Nam Giang", "district", "province"),
    ("d_east", "Huyện đoàn Đông Hải", "district", "province"),
    ("d_west", "Huyện đoàn Tây Nguyên", "district", "province"),
    ("agencies", "Đoàn Khối các cơ quan tỉnh", "agency", "province"),
    ("enterprises", "Đoàn Khối doanh nghiệp tỉnh", "enterprise", "province"),
    ("university", "Đoàn trường Đại học Bình Minh", "school", "province"),
    ("police", "Đoàn Thanh niên Công an tỉnh", "police", None),
    ("military", "Đoàn Thanh niên Bộ Chỉ huy Quân sự tỉnh", "military", None),
    ("w1", "Đoàn phường Hòa Bình", "commune", "city"),
    ("w2", "Đoàn phường Tân An", "commune", "city"),
    ("c1", "Đoàn xã Bắc Hà", "commune", "d_north"),
    ("c2", "Đoàn xã Sơn Thủy", "commune", "d_north"),
    ("c3", "Đoàn xã Nam Phong", "commune", "d_south"),
    ("c4", "Đoàn xã Đông Xuân", "commune", "d_east"),
    ("c5", "Đoàn xã Tây Hòa", "commune", "d_west"),
    ("p1", "Chi đoàn Phòng Cảnh sát hình sự", "police", "police"),
    ("p2", "Chi đoàn Công an thành phố", "police", "police"),
]
CLUBS = [
    ("city", "CLB Tình nguyện viên không gian mạng"),
    ("city", "CLB Lý luận trẻ"),
    ("d_north", "CLB Thanh niên xung kích"),
    ("d_south", "CLB Tuyên truyền viên trẻ"),
    ("university", "CLB Sinh viên tình nguyện"),
    ("university", "CLB Truyền thông"),
    ("police", "CLB Thanh niên với pháp luật"),
    ("enterprises", "CLB Công nhân trẻ"),
    ("w1", "CLB An toàn giao thông"),
    ("c3", "CLB Phòng chống lừa đảo"),
]


def _root(key: str) -> str:
    parent = next(p for k, _, _, p in TREE if k == key)
    return _root(parent) if parent else key


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


async def load_demo(
    db: Database, *, members: int, if_empty: bool, seed: int, say: Callable[[str], None] = print
) -> str:
    async with db.read() as session:
        has_data = await session.scalar(select(func.count()).select_from(Organization))
        if has_data:
            if if_empty:
                return "Demo data is loaded already; sign in with the users printed the first time."
            raise Conflict("The database has data already; load the demo into an empty database.")
    say("Creating organizations, clubs and users ...")
    rng = random.Random(seed)
    ids: dict[str, int] = {}
    for key, name, kind, parent in TREE:
        org = await orgs.create_organization(
            db, None, name=name, kind=kind, parent_id=ids[parent] if parent else None
        )
        assert org.id is not None
        ids[key] = org.id
    clubs: dict[int, list[str]] = {}
    for key, name in CLUBS:
        await orgs.create_club(db, None, organization_id=ids[key], name=name)
        clubs.setdefault(ids[key], []).append(name)
    users = [
        ("admin", "admin", "province"),
        ("coordinator", "coordinator", "province"),
        ("lead", "lead", "city"),
        ("leadership", "leadership", "province"),
    ]
    for username, role, org_key in users:
        await create_user(
            db,
            None,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            organization_id=ids[org_key],
        )
    say(f"Importing {members} members from CSV ...")
    await _members(db, rng, ids, clubs, members)
    say("Creating agreements, channels and campaigns; volunteers report on two of them ...")
    campaign_ids = await _agreements_and_campaigns(db, rng, ids)
    lines = [
        f"Demo province loaded: {len(TREE)} organizations, {len(CLUBS)} clubs, "
        f"{members} members, 2 agreements, {len(campaign_ids)} campaigns.",
        "Sign-in (demo only): " + ", ".join(u for u, _, _ in users) + f" / {DEMO_PASSWORD}",
    ]
    return "\n".join(lines)


async def _members(
    db: Database, rng: random.Random, ids: dict[str, int], clubs: dict[int, list[str]], count: int
) -> None:
    """Write a CSV per top-level union, the way each would, import it, then link most."""
    roots = [key for key, _, _, parent in TREE if parent is None]
    files = {root: io.StringIO() for root in roots}
    writers = {root: csv.writer(buffer) for root, buffer in files.items()}
    for writer in writers.values():
        writer.writerow(["code", "họ tên", "đơn vị", "câu lạc bộ", "ngôn ngữ"])
    root_of = {key: (parent and _root(parent)) or key for key, _, _, parent in TREE}
    keys = [key for key, _, _, _ in TREE]
    for n in range(count):
        key = rng.choice(keys)
        org = ids[key]
        club = rng.choice(clubs[org]) if org in clubs and rng.random() < 0.4 else ""
        locale = "en" if rng.random() < 0.05 else "vi"
        writers[root_of[key]].writerow([f"DV{n + 1:06d}", _name(rng), org, club, locale])
    for root, buffer in files.items():
        data = buffer.getvalue().encode()
        if data.count(b"\n") > 1:
            await importer.import_members(db, SYSTEM, ids[root], data, f"{root}.csv")
    async with db.write() as session:
        members = (
            await session.execute(
                select(Member.id, Member.organization_id).order_by(col(Member.id))
            )
        ).all()
        for member_id, org_id in members:
            linked = rng.random() < 0.85  # linked through their invite link (fake Telegram ids)
            if linked or rng.random() < 0.5:  # the rest: half have a link they have not opened
                session.add(_invite(member_id, org_id, linked))
            if linked:
                await session.execute(
                    update(Member)
                    .where(col(Member.id) == member_id)
                    .values(telegram_user_id=7_000_000_000 + member_id)
                )
            if rng.random() < 0.02:
                await session.execute(
                    update(Member).where(col(Member.id) == member_id).values(opted_out_at=utcnow())
                )


def _invite(member_id: int, org_id: int, used: bool) -> Invite:
    """The member's invite link as the print sheet would have made it: the funnel's "invited"
    counts those who have one, opened (linked) or not yet."""
    return Invite(
        token_hash=token_digest(new_token("m")),
        kind="member",
        member_id=member_id,
        organization_id=org_id,
        expires_at=utcnow() + timedelta(days=14),
        used_at=utcnow() if used else None,
    )


async def _agreements_and_campaigns(
    db: Database, rng: random.Random, ids: dict[str, int]
) -> list[int]:
    main = await agreements.create_agreement(
        db,
        None,
        title="Quy chế phối hợp tuyên truyền trên không gian mạng 2026-2027",
        lead_organization_id=ids["province"],
        party_ids=[ids["police"], ids["military"]],
        signed_on=date(2026, 1, 8),
        valid_from=date(2026, 1, 15),
        valid_until=date(2027, 12, 31),
        document_url="https://tinhdoanbinhminh.example.vn/van-ban/quy-che-phoi-hop-2026.pdf",
    )
    await agreements.create_agreement(
        db,
        None,
        title="Chương trình phối hợp phòng chống lừa đảo trực tuyến",
        lead_organization_id=ids["police"],
        party_ids=[ids["province"], ids["university"]],
        signed_on=date(2026, 3, 1),
        valid_from=date(2026, 3, 1),
        valid_until=date(2026, 12, 31),
    )
    for org, platform, url, name in [
        (
            "province",
            "facebook",
            "https://www.facebook.com/tinhdoanbinhminh",
            "Tỉnh đoàn Bình Minh",
        ),
        ("province", "youtube", "https://www.youtube.com/@tinhdoanbinhminh", "Tuổi trẻ Bình Minh"),
        ("police", "facebook", "https://www.facebook.com/congantinhbinhminh", "Công an tỉnh"),
        ("university", "tiktok", "https://www.tiktok.com/@dhbinhminh", "ĐH Bình Minh"),
    ]:
        await agreements.create_channel(
            db, None, organization_id=ids[org], platform=platform, url=url, name=name
        )
    return await _campaigns(db, rng, ids, main.id or 0)


async def _campaigns(
    db: Database, rng: random.Random, ids: dict[str, int], agreement_id: int
) -> list[int]:
    """Five campaigns under the main agreement, one in each state, the past ones with replies,
    and a running one handed to organizations (`demo_org`)."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    plans = [  # title, launch offset, days, final status
        ("Cảnh giác lừa đảo qua mạng dịp cuối năm", timedelta(days=-20), 7, "closed"),
        ("Lan tỏa gương người tốt việc tốt", timedelta(days=-2), 6, "active"),
        ("Tuyên truyền Luật Giao thông đường bộ", timedelta(days=2), 7, "scheduled"),
        ("Tháng Thanh niên: chia sẻ video", timedelta(days=10), 14, "draft"),
        ("Ngày hội hiến máu (hoãn)", timedelta(days=5), 5, "cancelled"),
    ]
    created = []
    for n, (title, offset, days, final) in enumerate(plans):
        launch_at = now + offset
        c = await campaigns.create_campaign(
            db,
            SYSTEM,
            campaigns.CampaignDraft(
                agreement_id=agreement_id,
                title=title,
                launch_at=launch_at,
                deadline_at=launch_at + timedelta(days=days),
                brief="Mỗi đoàn viên chia sẻ và bày tỏ cảm xúc với bài viết trên trang chính thức.",
                quota_percent=60,
                delivery_mode="dm",  # the demo's volunteers press on their own tasks
            ),
        )
        assert c.id is not None
        created.append(c.id)
        await campaigns.add_content_item(
            db,
            SYSTEM,
            c.id,
            url=f"https://www.facebook.com/tinhdoanbinhminh/posts/{1000 + n}",
            kind="post",
            actions=["share", "react"],
            suggested_caption="Hãy tỉnh táo trước các chiêu trò lừa đảo!",
        )
        targets = [ids["city"], ids["d_north"], ids["university"]] if n % 2 else [ids["province"]]
        await campaigns.set_targets(db, SYSTEM, c.id, organization_ids=targets, club_ids=[])
        if final in ("active", "closed"):
            await campaigns.launch_campaign(db, SYSTEM, c.id, now=launch_at)
            await _simulate_volunteers(db, rng, c.id, launch_at, launch_at + timedelta(days=days))
            if final == "closed":
                await campaigns.close_campaign(
                    db, SYSTEM, c.id, now=launch_at + timedelta(days=days)
                )
        elif final == "scheduled":
            await campaigns.schedule_campaign(db, SYSTEM, c.id, now=now)
        elif final == "cancelled":
            await campaigns.cancel_campaign(db, SYSTEM, c.id, now=now)
    created.append(
        await org_campaign(db, rng, ids, agreement_id, DEMO_PASSWORD, _simulate_volunteers)
    )
    return created


async def _simulate_volunteers(
    db: Database, rng: random.Random, campaign_id: int, start: datetime, deadline: datetime
) -> None:
    """Deliveries and presses as volunteers would make them (the real sender arrives later)."""
    async with db.write() as session:
        await session.execute(
            update(Assignment)
            .where(col(Assignment.campaign_id) == campaign_id)
            .values(status="delivered", delivered_at=start + timedelta(minutes=3))
        )
        rows = (
            await session.execute(
                select(Assignment.id, Assignment.member_id).where(
                    col(Assignment.campaign_id) == campaign_id
                )
            )
        ).all()
    horizon = min(utcnow(), deadline) - start
    for assignment_id, member_id in rows:
        roll = rng.random()
        if roll > 0.8:
            continue
        moment = start + horizon * rng.random() * 0.5
        steps = (
            ["acknowledged", "done"]
            if roll < 0.55
            else ["acknowledged"]
            if roll < 0.75
            else ["declined"]
        )
        for step in steps:
            moment = min(moment + timedelta(minutes=rng.randint(5, 300)), start + horizon)
            await reports.record_report(
                db,
                reports.ReportRequest(
                    assignment_id=assignment_id, member_id=member_id, action=step
                ),
                now=moment.astimezone(UTC),
            )
