"""Benchmark: three bots in one deployment, each at its own Telegram budget, in one run.

    .venv/bin/python -m bench.bots [--per-bot 1500] [--postgres URL]

A national organization with three provinces: the default bot serves the first (and the
root), bots "tinh-2" and "tinh-3" each serve one of the others. Each bot has a sandbox of its
own with Telegram's limits on (30/s per bot, 1/s per chat); the three sandboxes run in one
separate process, as Telegram would. One process runs the three bots' lanes (sender, poller
and set-up jobs each, as `coordinator worker` does), at the default rate; one launch reaches
--per-bot members per province. Prints each bot's messages, rate and 429s, and the total rate
from the first message to the last. Target: each about 30/s, together >= 85 msg/s, no 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import insert

from bench.delivery import _campaign, _people
from coordinator.auth.scope import SYSTEM
from coordinator.base import utcnow
from coordinator.bots import identity, runtime
from coordinator.bots.sender import Lane
from coordinator.campaigns import service as campaigns
from coordinator.db import Database
from coordinator.delivery.models import BotChat
from coordinator.organizations import agreements
from coordinator.organizations import service as orgs
from coordinator.organizations.models import Member
from coordinator.sandbox.run import free_port, running_sandbox
from coordinator.sandbox.state import World
from coordinator.settings import DEFAULT_SEND_RATE, BotConfig, read_settings
from tests import dbtools

BOTS = [  # (lane name, token, username); the first is the default bot
    ("default", "1000:sandbox", "Bench_Default_bot"),
    ("tinh-2", "2000:bench-2", "Bench_Tinh2_bot"),
    ("tinh-3", "3000:bench-3", "Bench_Tinh3_bot"),
]


async def serve_sandboxes(ports: list[int]) -> None:
    """The child process: one sandbox per bot, people numbered apart, limits on."""
    async with contextlib.AsyncExitStack() as stack:
        for n, ((_, token, username), port) in enumerate(zip(BOTS, ports, strict=True)):
            world = World(token, username=username, first_person_id=(n + 1) * 100_000_001)
            world.limits.enabled = True
            await stack.enter_async_context(running_sandbox(world, port=port))
        await asyncio.Event().wait()


async def _setup(db: Database, people: list[list[int]]) -> tuple[int, int, list[int]]:
    """A root, three provinces, an agreement and one member per sandbox account."""
    root = await orgs.create_organization(
        db, None, name="Trung ương", kind="province", parent_id=None
    )
    assert root.id is not None
    provinces = []
    for n in range(3):
        province = await orgs.create_organization(
            db, None, name=f"Tỉnh {n + 1}", kind="province", parent_id=root.id
        )
        assert province.id is not None
        provinces.append(province.id)
    today = utcnow().date()
    created = await agreements.create_agreement(
        db,
        None,
        title="Quy chế",
        lead_organization_id=root.id,
        party_ids=[],
        signed_on=today,
        valid_from=today,
        valid_until=today.replace(year=today.year + 1),
    )
    await agreements.create_channel(
        db,
        None,
        organization_id=root.id,
        platform="facebook",
        url="https://facebook.com/tinh",
        name="Trang",
    )
    async with db.write() as session:
        for province, ids in zip(provinces, people, strict=True):
            await session.execute(
                insert(Member),
                [
                    {
                        "organization_id": province,
                        "display_name": f"v{p}",
                        "telegram_user_id": p,
                        "locale": "vi",
                        "created_at": utcnow(),
                    }
                    for p in ids
                ],
            )
    return root.id, created.id or 0, provinces


async def _link(db: Database, people: list[list[int]], ids: dict[str, int]) -> None:
    """As if each province's volunteers had opened their invites in their province's bot."""
    async with db.write() as session:
        for (name, _, _), chats in zip(BOTS[1:], people[1:], strict=True):
            await session.execute(
                insert(BotChat), [{"chat_id": c, "bot_id": ids[name]} for c in chats]
            )


async def _stats(http: httpx.AsyncClient, urls: list[str]) -> list[dict[str, int]]:
    answers = await asyncio.gather(*(http.get(f"{u}/sandbox/stats") for u in urls))
    return [a.json()["result"] for a in answers]


def _report(
    lanes: int,
    per_bot: int,
    before: list[dict[str, int]],
    stats: list[dict[str, int]],
    firsts: list[float],
    lasts: list[float],
    launched: float,
) -> None:
    total_refused = 0
    for n, (name, _, _) in enumerate(BOTS[:lanes]):
        refused = stats[n]["refused_429"] - before[n]["refused_429"]
        total_refused += refused
        rate = (per_bot - 1) / (lasts[n] - firsts[n])
        print(
            f"bot {name:8} {per_bot} messages in {lasts[n] - firsts[n]:.1f} s = "
            f"{rate:.2f} msg/s; achieved/allowed = {rate / DEFAULT_SEND_RATE:.3f}; "
            f"429s: {refused}"
        )
    span = max(lasts) - min(firsts)
    print(
        f"{lanes} bot(s)   {lanes * per_bot} messages in {span:.1f} s = "
        f"{(lanes * per_bot - 1) / span:.2f}"
        f" msg/s; 429s: {total_refused}; launch to last message "
        f"{max(lasts) - launched:.1f} s"
    )


async def run(url: str, urls: list[str], per_bot: int, lanes: int) -> None:
    """`lanes` bots run (1: the default bot alone, the figure before several bots)."""
    db = Database(url)
    try:
        people = []
        for base in urls:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                people.append(await _people(http, per_bot))
        root, agreement, provinces = await _setup(db, people)
        configs = tuple(
            BotConfig(name, token, province)
            for (name, token, _), province in zip(BOTS[1:], provinces[1:], strict=True)
        )
        ids = await identity.sync_bots(db, configs)
        await _link(db, people, ids)
        settings = read_settings({**os.environ, "COORDINATOR_DATABASE_URL": url})
        async with contextlib.AsyncExitStack() as stack:
            # One client, polled every 0.1 s: the bench shares its process with the bots.
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            for (name, token, _), base in list(zip(BOTS, urls, strict=True))[:lanes]:
                lane = Lane(ids[name], name) if name != "default" else Lane()
                telegram = runtime.build(db, settings, token, f"{base}/bot", lane)
                await stack.enter_async_context(runtime.running(telegram))
            await asyncio.sleep(2)  # the lanes are elected and identified: measure delivery
            before = await _stats(http, urls)
            launched = time.perf_counter()
            campaign = await _campaign(db, root, agreement)
            if lanes < len(BOTS):  # one province per running bot
                await campaigns.set_targets(
                    db, SYSTEM, campaign, organization_ids=provinces[:lanes], club_ids=[]
                )
            await campaigns.launch_campaign(db, SYSTEM, campaign)
            urls = urls[:lanes]
            before = before[:lanes]
            firsts: list[float] = [0.0] * lanes
            lasts: list[float] = [0.0] * lanes
            deadline = launched + per_bot / 20 + 60
            while time.perf_counter() < deadline and not all(lasts):
                stats = await _stats(http, urls)
                now = time.perf_counter()
                for n, (b, s) in enumerate(zip(before, stats, strict=True)):
                    sent = s["sent"] - b["sent"]
                    firsts[n] = firsts[n] or (now if sent else 0.0)
                    lasts[n] = lasts[n] or (now if sent >= per_bot else 0.0)
                await asyncio.sleep(0.1)
            if not all(lasts):
                raise RuntimeError(f"not delivered before the deadline: {stats}")
        _report(lanes, per_bot, before, stats, firsts, lasts, launched)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-bot", type=int, default=1500)
    parser.add_argument("--bots", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--postgres", help="server URL; a scratch database is created and dropped")
    parser.add_argument("--sandboxes", help=argparse.SUPPRESS)  # the child process: its ports
    args = parser.parse_args()
    if args.sandboxes:
        asyncio.run(serve_sandboxes(json.loads(args.sandboxes)))
        return
    print(
        f"machine            {platform.platform()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} "
        "(other work on the machine slows every figure)"
    )
    ports = [free_port() for _ in BOTS]
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.bots", "--sandboxes", json.dumps(ports)],
        stdout=subprocess.DEVNULL,
    )
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 20
        for (_, token, _), base in zip(BOTS, urls, strict=True):
            while True:
                try:
                    httpx.get(f"{base}/bot{token}/getMe")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres:
                name = f"coord_bench_{uuid.uuid4().hex[:8]}"
                url = asyncio.run(dbtools.create_pg_database(args.postgres, name))
            else:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            dbtools.upgrade(url)
            print(f"database           {url.split(':')[0]}")
            try:
                asyncio.run(run(url, urls, args.per_bot, args.bots))
            finally:
                if args.postgres:
                    asyncio.run(dbtools.drop_pg_database(url))
        print(f"load average after {os.getloadavg()[0]:.1f}")
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    main()
