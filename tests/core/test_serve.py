"""`coordinator serve` as a user starts it: web, bot and sender in one process, no real bot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import httpx

from coordinator.base import utcnow
from coordinator.sandbox.run import free_port
from tests.core.test_cli import _cli, url  # noqa: F401  (the fixture)


def wait_for(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("not reached before the deadline")


def test_it_serves_the_whole_flow_with_the_built_in_sandbox(url):  # noqa: F811
    assert _cli(url, "db", "upgrade").returncode == 0
    _cli(url, "orgs", "create", "--name", "Tỉnh đoàn")
    _cli(
        url,
        "users",
        "create",
        "--username",
        "chi",
        "--role",
        "admin",
        "--organization",
        "1",
        "--password-stdin",
        stdin="a long password here\n",
    )
    token = _cli(url, "tokens", "create", "--username", "chi", "--name", "e2e").stdout.strip()
    port, sandbox_port = free_port(), free_port()
    env = {**os.environ, "COORDINATOR_DATABASE_URL": url}
    env.pop("COORDINATOR_TELEGRAM_TOKEN", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coordinator",
            "serve",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--sandbox-bot-username",
            "Doan_Xa_Binh_Minh_bot",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        web = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        )
        telegram = httpx.Client(base_url=f"http://127.0.0.1:{sandbox_port}")
        wait_for(lambda: web.get("/health").status_code == 200)
        person = telegram.post("/sandbox/users", json={"first_name": "An"}).json()["result"]
        member = web.post(
            "/api/v1/members", json={"organization_id": 1, "display_name": "An"}
        ).json()
        invite = lambda: web.post(f"/api/v1/members/{member['id']}/invite")  # noqa: E731
        link = wait_for(lambda: invite().status_code == 201 and invite().json()["link"])
        assert link.startswith("https://t.me/Doan_Xa_Binh_Minh_bot?start="), "getMe's name"
        telegram.post(
            "/sandbox/messages",
            json={"user_id": person["id"], "text": f"/start {link.split('start=')[1]}"},
        )

        def bot_said(fragment):
            history = telegram.get(f"/sandbox/chats/{person['id']}/messages").json()["result"]
            return any(m["from"]["is_bot"] and fragment in m["text"] for m in history)

        wait_for(lambda: bot_said("Chào mừng An"))
        agreement = web.post(
            "/api/v1/agreements",
            json={
                "title": "Quy chế",
                "lead_organization_id": 1,
                "signed_on": "2026-01-01",
                "valid_from": "2026-01-01",
                "valid_until": "2027-12-31",
            },
        ).json()
        web.post(
            "/api/v1/channels",
            json={
                "organization_id": 1,
                "platform": "facebook",
                "url": "https://facebook.com/tinhdoan",
                "name": "Trang",
            },
        )
        now = utcnow()
        campaign = web.post(
            "/api/v1/campaigns",
            json={
                "agreement_id": agreement["id"],
                "title": "Chiến dịch thử",
                "launch_at": now.isoformat(),
                "deadline_at": (now + timedelta(days=2)).isoformat(),
            },
        ).json()
        web.post(
            f"/api/v1/campaigns/{campaign['id']}/content-items",
            json={"url": "https://facebook.com/tinhdoan/posts/1", "actions": ["share"]},
        )
        web.put(f"/api/v1/campaigns/{campaign['id']}/targets", json={"organization_ids": [1]})
        launched = web.post(f"/api/v1/campaigns/{campaign['id']}/launch").json()
        assert launched["assignments_created"] == 1
        wait_for(lambda: bot_said("Chiến dịch thử"))
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Bot API sandbox at" in output
