"""The JSON API as a client meets it: tokens, problem JSON, pagination, uploads, the flow."""

from datetime import timedelta

from coordinator.base import utcnow
from tests.factories import BOT_USERNAME

PROBLEM = "application/problem+json"


async def test_it_asks_for_a_token_with_problem_json(api):
    for headers in ({}, {"Authorization": "Bearer coord_nope"}, {"Authorization": "Basic x"}):
        r = await api.get("/api/v1/organizations", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["status"] == 401 and r.json()["detail"]


async def test_it_reports_malformed_bodies_field_by_field(api):
    r = await api.post(
        "/api/v1/campaigns",
        headers=api.as_("coordinator"),
        json={"agreement_id": "one", "title": "x"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"] and r.json()["title"] == "Bad Request"
    r = await api.post(
        "/api/v1/organizations", headers=api.as_("admin"), json={"name": "x", "surprise": 1}
    )
    assert r.status_code == 400


async def test_it_reports_broken_rules_with_a_code_and_fields(api, world):
    now = utcnow()
    r = await api.post(
        "/api/v1/campaigns",
        headers=api.as_("coordinator"),
        json={
            "agreement_id": world.agreement["province"],
            "title": "",
            "launch_at": now.isoformat(),
            "deadline_at": (now - timedelta(days=1)).isoformat(),
        },
    )
    body = r.json()
    assert r.status_code == 422
    assert body["type"] == "urn:coordinator:problem:invalid" and body["code"] == "invalid"
    assert {e["field"] for e in body["errors"]} == {"title", "deadline_at"}


async def test_it_paginates_lists(api, world):
    r = await api.get("/api/v1/members?limit=2&offset=1", headers=api.as_("admin"))
    body = r.json()
    assert r.status_code == 200
    assert body["total"] == len(world.member) and body["limit"] == 2 and body["offset"] == 1
    assert len(body["items"]) == 2
    assert (
        await api.get("/api/v1/members?limit=9999", headers=api.as_("admin"))
    ).status_code == 400
    assert (await api.get("/api/v1/members?offset=-1", headers=api.as_("admin"))).status_code == 400


async def test_it_never_sends_secrets(api, world):
    r = await api.get("/api/v1/users", headers=api.as_("admin"))
    text = r.text
    assert "password" not in text and "argon2" not in text and "token_hash" not in text
    member = (await api.get("/api/v1/members", headers=api.as_("admin"))).json()["items"][0]
    assert "telegram_user_id" not in member and member["linked"] is True


async def test_it_runs_a_campaign_end_to_end(api, world):
    c = api.as_("coordinator")
    now = utcnow()
    created = await api.post(
        "/api/v1/campaigns",
        headers=c,
        json={
            "agreement_id": world.agreement["province"],
            "title": "Chia sẻ bài viết",
            "launch_at": now.isoformat(),
            "deadline_at": (now + timedelta(days=3)).isoformat(),
            "quota_percent": 60,
        },
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    item = await api.post(
        f"/api/v1/campaigns/{cid}/content-items",
        headers=c,
        json={"url": f"{world.channel_url['province']}/posts/42", "actions": ["share", "react"]},
    )
    assert item.status_code == 201, item.text
    targets = await api.put(
        f"/api/v1/campaigns/{cid}/targets",
        headers=c,
        json={"organization_ids": [world.org["district"]]},
    )
    assert targets.status_code == 200
    launch = await api.post(f"/api/v1/campaigns/{cid}/launch", headers=c)
    assert launch.status_code == 200 and launch.json()["assignments_created"] == 4
    again = await api.post(f"/api/v1/campaigns/{cid}/launch", headers=c)
    assert again.json()["assignments_created"] == 0
    assignments = (await api.get(f"/api/v1/assignments?campaign_id={cid}", headers=c)).json()
    mine = next(a for a in assignments["items"] if a["member_id"] == world.member["d1"])
    report = {"assignment_id": mine["id"], "member_id": world.member["d1"], "action": "done"}
    first = await api.post("/api/v1/reports", headers=api.as_("lead"), json=report)
    assert first.status_code == 201 and first.json()["created"] is True
    repeat = await api.post("/api/v1/reports", headers=api.as_("lead"), json=report)
    assert repeat.json()["created"] is False
    tally = (await api.get(f"/api/v1/campaigns/{cid}/tally", headers=c)).json()
    assert tally["assigned"] == 4 and tally["by_status"]["done"] == 1
    assert tally["participation_rate"] == 0.25 and tally["masked"] == []
    # Leadership: a group of four is "<5" in every count, and so has no rate.
    tally = (await api.get(f"/api/v1/campaigns/{cid}/tally", headers=api.as_("leadership"))).json()
    assert tally["assigned"] is None and tally["by_status"]["done"] is None
    assert tally["participation_rate"] is None and "by_status.done" in tally["masked"]
    closed = await api.post(f"/api/v1/campaigns/{cid}/close", headers=c)
    assert closed.json()["status"] == "closed"
    late = await api.post(
        "/api/v1/reports", headers=api.as_("lead"), json={**report, "action": "acknowledged"}
    )
    assert late.status_code == 409 and late.json()["code"] == "campaign_not_active"


async def test_it_imports_an_uploaded_file_or_explains_why_not(api, world):
    h = api.as_("lead")
    url = f"/api/v1/members/import?organization_id={world.org['district']}"
    good = "họ tên,mã\nNguyễn Văn An,Z1\nTrần Thị Bình,Z2\n".encode()
    r = await api.post(url, headers=h, files={"file": ("ds.csv", good, "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json() == {"created": 2, "updated": 0, "unchanged": 0, "warnings": []}
    bad = "họ tên,mã\n,Z3\n".encode()
    r = await api.post(url, headers=h, files={"file": ("ds.csv", bad, "text/csv")})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"line": 2, "message": "display_name: 1-200 characters"}]
    r = await api.post(url, headers=h, files={"file": ("ds.pdf", good, "application/pdf")})
    assert r.status_code == 422 and "csv" in r.json()["detail"]


async def test_it_hands_out_invite_links(api, world):
    r = await api.post(f"/api/v1/members/{world.member['d1']}/invite", headers=api.as_("lead"))
    assert r.status_code == 201
    link = r.json()["link"]
    assert link.startswith(f"https://t.me/{BOT_USERNAME}?start=")
    token = link.split("=", 1)[1]
    assert len(token) >= 22 and token.replace("-", "").replace("_", "").isalnum()
    r = await api.post(
        "/api/v1/group-chats/invite",
        headers=api.as_("lead"),
        json={"organization_id": world.org["district"], "club_id": world.club["club"]},
    )
    assert r.json()["link"].startswith(f"https://t.me/{BOT_USERNAME}?startgroup=")


async def test_it_issues_tokens_that_work_and_shows_them_once(api, world):
    r = await api.post(
        f"/api/v1/users/{world.user_id['lead']}/tokens",
        headers=api.as_("lead"),
        json={"name": "script"},
    )
    token = r.json()["token"]
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "lead"
    audit = await api.get("/api/v1/audit-events", headers=api.as_("admin"))
    assert token not in audit.text
    assert "token.create" in {e["action"] for e in audit.json()["items"]}


async def test_it_publishes_openapi_for_every_route(api):
    from coordinator.app import create_app  # noqa: F401

    schema = (await api.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    assert "/api/v1/campaigns/{campaign_id}/launch" in paths
    assert "/api/v1/members/import" in paths
    assert len(paths) >= 25


async def test_it_answers_unexpected_failures_without_internals(api, world, monkeypatch):
    from coordinator.organizations import service

    async def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_organizations", boom)
    r = await api.get("/api/v1/organizations", headers=api.as_("admin"))
    assert r.status_code == 500
    assert "secret internals" not in r.text and r.headers["content-type"].startswith(PROBLEM)


async def test_it_takes_the_chosen_channel_of_a_video_link(api, world):
    admin, c = api.as_("admin"), api.as_("coordinator")
    whole = await api.post(
        "/api/v1/channels",
        headers=admin,
        json={
            "organization_id": world.org["province"],
            "platform": "youtube",
            "url": "https://www.youtube.com/",
            "name": "YouTube",
        },
    )
    assert whole.status_code == 422 and whole.json()["code"] == "channel_is_platform"
    channel = await api.post(
        "/api/v1/channels",
        headers=admin,
        json={
            "organization_id": world.org["province"],
            "platform": "youtube",
            "url": "https://www.youtube.com/@tinhdoan",
            "name": "YouTube Tỉnh đoàn",
        },
    )
    assert channel.status_code == 201, channel.text
    cid = await world.campaign(items=0)
    path = f"/api/v1/campaigns/{cid}/content-items"
    video = {"url": "https://youtu.be/dQw4w9WgXcQ", "kind": "video", "actions": ["watch"]}
    asked = await api.post(path, headers=c, json=video)
    assert asked.status_code == 422 and asked.json()["code"] == "channel_choice_needed"
    candidates = asked.json()["errors"][0]["candidates"]
    assert [x["id"] for x in candidates] == [channel.json()["id"]]
    added = await api.post(path, headers=c, json={**video, "channel_id": candidates[0]["id"]})
    assert added.status_code == 201, added.text
    assert added.json()["channel_id"] == channel.json()["id"]
    for bad in (0, -1, "x", 2**64):
        refused = await api.post(path, headers=c, json={**video, "channel_id": bad})
        assert refused.status_code == 400, (bad, refused.text)
