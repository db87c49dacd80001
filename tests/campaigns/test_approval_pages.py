"""The approval pages: a party's coordinator submits, the lead's coordinator sees it waiting on
the dashboard and returns it with a comment the drafter then reads, or approves it."""

import os
from typing import Any

from litestar.testing import AsyncTestClient

from coordinator.app import create_app
from coordinator.settings import read_settings
from tests.factories import add_joint_agreement, build_world
from tests.web.test_web_authorization import sign_in


async def _post(client: AsyncTestClient[Any], path: str, **form: str) -> Any:
    headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
    return await client.post(path, data=form, headers=headers, follow_redirects=False)


async def test_it_submits_returns_and_approves_from_the_pages(db):
    world = await build_world(db)
    await add_joint_agreement(world)
    cid = await world.campaign(agreement="joint", targets=("province",))
    env = {**os.environ, "COORDINATOR_DATABASE_URL": db.url}
    # One app per client, as one per browser process: each client runs its app's lifespan,
    # and a database engine must not be shared across those.
    drafter_app, approver_app = create_app(read_settings(env)), create_app(read_settings(env))
    async with (
        AsyncTestClient(app=drafter_app) as drafter,
        AsyncTestClient(app=approver_app) as approver,
    ):
        await sign_in(drafter, "coordinator")
        await sign_in(approver, "joint-lead")
        page = (await drafter.get(f"/campaigns/{cid}")).text
        assert "Gửi duyệt" in page and f"/campaigns/{cid}/launch" not in page
        assert (await _post(drafter, f"/campaigns/{cid}/submit")).status_code == 303
        assert "Chờ bạn duyệt" not in (await drafter.get("/")).text
        dashboard = (await approver.get("/")).text
        assert "Chờ bạn duyệt" in dashboard and f'href="/campaigns/{cid}"' in dashboard
        waiting = (await approver.get(f"/campaigns/{cid}")).text
        assert f"/campaigns/{cid}/approve" in waiting and f"/campaigns/{cid}/return" in waiting
        assert f"/campaigns/{cid}/approve" not in (await drafter.get(f"/campaigns/{cid}")).text
        # The drafter cannot approve their own submission: refused, nothing changes.
        refused = await _post(drafter, f"/campaigns/{cid}/approve", comment="")
        assert refused.status_code == 403
        back = await _post(approver, f"/campaigns/{cid}/return", comment="Thêm nội dung <b>")
        assert back.status_code == 303
        returned = (await drafter.get(f"/campaigns/{cid}")).text
        assert "Thêm nội dung &lt;b&gt;" in returned and "Gửi duyệt" in returned
        await _post(drafter, f"/campaigns/{cid}/submit")
        assert (await _post(approver, f"/campaigns/{cid}/approve", comment="")).status_code == 303
        approved = (await drafter.get(f"/campaigns/{cid}")).text
        assert f"/campaigns/{cid}/launch" in approved and "Đã duyệt" in approved
        assert "Chờ bạn duyệt" not in (await approver.get("/")).text
