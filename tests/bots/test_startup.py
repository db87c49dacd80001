"""`coordinator serve` against a Bot API that is not on our side: a bot with an unusual name
and a setMyCommands that answers 500. The web serves, the sender sends, every link names the
bot getMe described, and the commands get registered once Telegram answers again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta

import httpx

from coordinator.base import utcnow
from coordinator.sandbox.run import free_port
from tests.core.test_cli import _cli, url  # noqa: F401  (the fixture)
from tests.core.test_serve import wait_for

UNUSUAL = "Quan_Doan_Thu_Nghiem_bot"
TOKEN = "1000:sandbox"


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "coordinator", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    return output


def _prepare(url: str) -> str:  # noqa: F811
    """A migrated database with one organization and an admin; returns the admin's token."""
    assert _cli(url, "db", "upgrade").returncode == 0
    _cli(url, "orgs", "create", "--name", "Tỉnh đoàn")
    _cli(
        *(url, "users", "create", "--username", "chi", "--role", "admin"),
        *("--organization", "1", "--password-stdin"),
        stdin="a long password here\n",
    )
    return _cli(url, "tokens", "create", "--username", "chi", "--name", "e2e").stdout.strip()


def _sign_in(web: httpx.Client) -> str:
    web.get("/signin")
    csrf = web.cookies["coordinator_csrf"]
    r = web.post(
        "/signin", data={"username": "chi", "password": "a long password here", "_csrf_token": csrf}
    )
    assert r.status_code in (200, 303), r.text
    return web.cookies["coordinator_csrf"]


def _launch_one_campaign(api: httpx.Client) -> None:
    agreement = api.post(
        "/api/v1/agreements",
        json={
            "title": "Quy chế",
            "lead_organization_id": 1,
            "signed_on": "2026-01-01",
            "valid_from": "2026-01-01",
            "valid_until": "2027-12-31",
        },
    ).json()
    api.post(
        "/api/v1/channels",
        json={
            "organization_id": 1,
            "platform": "facebook",
            "url": "https://facebook.com/tinhdoan",
            "name": "Trang",
        },
    )
    now = utcnow()
    campaign = api.post(
        "/api/v1/campaigns",
        json={
            "agreement_id": agreement["id"],
            "title": "Chiến dịch thử",
            "launch_at": now.isoformat(),
            "deadline_at": (now + timedelta(days=2)).isoformat(),
        },
    ).json()
    api.post(
        f"/api/v1/campaigns/{campaign['id']}/content-items",
        json={"url": "https://facebook.com/tinhdoan/posts/1", "actions": ["share"]},
    )
    api.put(f"/api/v1/campaigns/{campaign['id']}/targets", json={"organization_ids": [1]})
    assert api.post(f"/api/v1/campaigns/{campaign['id']}/launch").json()["assignments_created"]


def test_serve_runs_and_sends_while_set_my_commands_fails_and_links_name_getme(url):  # noqa: F811
    token = _prepare(url)
    port, sandbox_port = free_port(), free_port()
    env = {**os.environ, "COORDINATOR_DATABASE_URL": url}
    sandbox = _start(
        *("sandbox", "--port", str(sandbox_port), "--token", TOKEN, "--bot-username", UNUSUAL),
        env=env,
    )
    serve = None
    try:
        telegram = httpx.Client(base_url=f"http://127.0.0.1:{sandbox_port}")
        wait_for(
            lambda: (
                telegram.put(
                    "/sandbox/failures", json={"method": "setMyCommands", "status": 500}
                ).status_code
                == 200
            )
        )
        serve = _start(
            "serve",
            "--port",
            str(port),
            env={
                **env,
                "COORDINATOR_TELEGRAM_TOKEN": TOKEN,
                "COORDINATOR_TELEGRAM_API_URL": f"http://127.0.0.1:{sandbox_port}/bot",
            },
        )
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        )
        wait_for(lambda: api.get("/health").status_code == 200)

        def bot_state():
            bot = api.get("/health/ready").json()["bot"]
            return bot if bot["identity_known"] and bot["last_error"] else None

        bot = wait_for(bot_state)
        assert bot["username"] == UNUSUAL and not bot["commands_registered"]
        assert (
            bot["last_error"].startswith("bot.commands:")
            and "Internal Server Error" in (bot["last_error"])
        )
        assert TOKEN not in bot["last_error"]

        # Every link names the bot getMe described: API, pages and their QR codes.
        member = api.post("/api/v1/members", json={"organization_id": 1, "display_name": "An"})
        link = api.post(f"/api/v1/members/{member.json()['id']}/invite").json()["link"]
        assert link.startswith(f"https://t.me/{UNUSUAL}?start=")
        group = api.post("/api/v1/group-chats/invite", json={"organization_id": 1}).json()
        assert group["link"].startswith(f"https://t.me/{UNUSUAL}?startgroup=")
        pages = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        csrf = _sign_in(pages)
        for path in ("/organizations/1/invites", "/organizations/1/group-link"):
            html = pages.post(path, data={"_csrf_token": csrf}).text
            names = set(re.findall(r"t\.me/([A-Za-z0-9_]+)", html))
            assert names == {UNUSUAL}, (path, names)
            assert "<svg" in html

        # The sender sends: onboarding, then a task card through the outbox.
        person = telegram.post("/sandbox/users", json={"first_name": "An"}).json()["result"]
        telegram.post(
            "/sandbox/messages",
            json={"user_id": person["id"], "text": f"/start {link.split('start=')[1]}"},
        )

        def bot_said(fragment):
            history = telegram.get(f"/sandbox/chats/{person['id']}/messages").json()["result"]
            return any(m["from"]["is_bot"] and fragment in m["text"] for m in history)

        wait_for(lambda: bot_said("Chào mừng An"))
        _launch_one_campaign(api)
        wait_for(lambda: bot_said("Chiến dịch thử"))

        # Telegram answers again: the retried job registers the commands.
        telegram.put("/sandbox/failures", json={"method": "setMyCommands", "status": 0})
        wait_for(lambda: api.get("/health/ready").json()["bot"]["commands_registered"], seconds=45)
    finally:
        output = _stop(serve) if serve is not None else ""
        _stop(sandbox)
    assert serve.returncode == 0, output
    assert "bot.commands failed; restarting" in output, "logged, with its traceback"


def test_the_sandbox_refuses_a_name_telegram_would_not_allow(url):  # noqa: F811
    for command in (("sandbox", "--bot-username"), ("serve", "--sandbox-bot-username")):
        r = _cli(url, *command, "not a bot name")
        assert r.returncode == 2 and "ending in bot" in r.stderr
