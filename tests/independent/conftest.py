"""Fixtures: telegram-test-api once per session, a shim and a bot token per test, and our bot
as a deployment runs it: a `coordinator worker` process on this test's database."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.independent.emulator import Telegram, start_emulator
from tests.independent.shim import Shim

_bots = itertools.count(7_000_001)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("telegram-test-api") / "emulator.log"
    process, url = start_emulator(log)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
async def telegram(emulator: str) -> AsyncIterator[Telegram]:
    token = f"{next(_bots)}:independent-{uuid.uuid4().hex[:12]}"
    shim = Shim(emulator)
    await shim.start()
    async with httpx.AsyncClient(base_url=emulator, timeout=10) as http:
        me = (await http.get(f"/bot{token}/getMe")).json()["result"]
        yield Telegram(emulator, token, shim, http, me | {"is_bot": True})
    await shim.stop()


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log: Path

    async def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        """Stop it as a deployment does (SIGTERM from systemd, Docker, Kubernetes)."""
        if self.process.returncode is None:
            self.process.send_signal(how)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return int(self.process.returncode or 0)


@pytest.fixture
async def worker(world, telegram: Telegram, tmp_path: Path) -> AsyncIterator[Worker]:
    """`coordinator worker` with the bot's token and Bot API URL pointing at the emulator,
    ready once it polls for updates (as real Telegram would see a bot come up)."""
    env = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": world.db.url,
        "COORDINATOR_TELEGRAM_TOKEN": telegram.token,
        "COORDINATOR_TELEGRAM_API_URL": f"{telegram.shim.url}/bot",
        "COORDINATOR_TELEGRAM_MODE": "polling",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "coordinator", "worker", env=env, stdout=out, stderr=out
        )
    running = Worker(process, log)
    try:
        deadline = time.monotonic() + 30
        while not telegram.shim.made("getUpdates"):
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker never polled Telegram:\n{log.read_text()}")
            await asyncio.sleep(0.05)
        yield running
    finally:
        await running.stop()
        print(f"--- worker log ---\n{log.read_text()}")  # shown when the test fails
