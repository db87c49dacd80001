"""Real processes for the fault tests: the Bot API sandbox, workers, a freezable proxy, waits.

Everything here runs as the product runs: `coordinator sandbox`, `coordinator worker` and
`coordinator serve` are separate operating-system processes on 127.0.0.1 and free ports, killed
with SIGKILL when a test says so. Nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from coordinator.bots.sender import Sender
from coordinator.sandbox.run import free_port

T = TypeVar("T")
TOKEN = "1000:sandbox"
ROOT = Path(__file__).resolve().parents[2]


def sender_concurrency() -> int:
    """How many sends one sender has in flight at most: the bound on what a crash leaves in
    doubt. Read from the code, so the tests follow it when it changes."""
    default = inspect.signature(Sender.__init__).parameters["concurrency"].default
    assert isinstance(default, int), "Sender(concurrency=...) needs an integer default"
    return default


async def wait_for(
    check: Callable[[], Awaitable[T]], *, within: float, what: str, every: float = 0.25
) -> T:
    """Poll `check` until it returns something truthy; fail saying `what` after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g}s: {what} (last: {value!r})")
        await asyncio.sleep(every)


@dataclass
class Process:
    """One `coordinator ...` subprocess with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finally blocks, as a crash or the OOM killer would."""
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.pid}) ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """Starts coordinator commands for one test and stops whatever is left when it ends."""

    directory: Path
    database_url: str
    started: list[Process] = field(default_factory=list)

    def env(self, api_url: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COORDINATOR_TEST_")}
        env.update(
            COORDINATOR_DATABASE_URL=self.database_url,
            COORDINATOR_TELEGRAM_TOKEN=TOKEN,
            COORDINATOR_TELEGRAM_API_URL=api_url,
            COORDINATOR_VAR_DIR=str(self.directory / "var"),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log = self.directory / f"{name}-{len(self.started)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "coordinator", *args],
                cwd=self.directory,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.started.append(process)
        return process

    def worker(self, api_url: str, **extra: str) -> Process:
        return self.start("worker", ["worker"], self.env(api_url, **extra))

    def serve(self, api_url: str, port: int, **extra: str) -> Process:
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        return self.start("serve", args, self.env(api_url, **extra))

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.started)

    def stop_all(self) -> None:
        """Newest first: workers go before the sandbox they talk to."""
        for process in reversed(self.started):
            process.stop()


class Sandbox:
    """A `coordinator sandbox` process and a client for its user side (aiohttp: thousands of
    calls per test)."""

    def __init__(self, process: Process, port: int) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"
        self.http = ClientSession(base_url=self.url, timeout=ClientTimeout(total=30))

    @property
    def api_url(self) -> str:
        """COORDINATOR_TELEGRAM_API_URL for a bot talking to it directly."""
        return f"{self.url}/bot"

    async def ready(self) -> bool:
        with contextlib.suppress(ClientError):
            async with self.http.get(f"/bot{TOKEN}/getMe") as response:
                return response.status == 200
        return False

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"/sandbox/{path}", json=body) as response:
            response.raise_for_status()
            return (await response.json())["result"]

    async def stats(self) -> dict[str, int]:
        result: dict[str, int] = await self.call("GET", "stats")
        return result

    async def limits(self, enabled: bool) -> None:
        await self.call("PUT", "limits", {"enabled": enabled})

    async def people(self, count: int) -> list[int]:
        """Create `count` Telegram accounts; returns their user ids."""
        ids: list[int] = []
        for start in range(0, count, 100):
            batch = await asyncio.gather(
                *(
                    self.call("POST", "users", {"first_name": f"Tình nguyện viên {n}"})
                    for n in range(start, min(count, start + 100))
                )
            )
            ids += [int(person["id"]) for person in batch]
        return ids

    async def bot_messages(self, chat_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """What the bot put in each chat, as the person sees it now (edits applied)."""
        found: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(chat_ids), 100):
            part = chat_ids[start : start + 100]
            histories = await asyncio.gather(
                *(self.call("GET", f"chats/{chat}/messages") for chat in part)
            )
            for chat, history in zip(part, histories, strict=True):
                found[chat] = [m for m in history if m["from"].get("is_bot")]
        return found

    async def close(self) -> None:
        await self.http.close()


async def start_sandbox(processes: Processes) -> Sandbox:
    port = free_port()
    args = ["sandbox", "--host", "127.0.0.1", "--port", str(port), "--token", TOKEN]
    process = processes.start("sandbox", args, processes.env(""))
    sandbox = Sandbox(process, port)
    await wait_for(sandbox.ready, within=30, what="the sandbox answers getMe")
    return sandbox


class FreezableProxy:
    """A reverse proxy in front of the Bot API that can hold every request for a while.

    A held request is answered by nobody until the freeze ends; then it goes on to the Bot API
    and its answer comes back, if the client is still waiting. A client that gave up has then
    timed out on a request Telegram did receive: the case that must not lose a task.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.held = 0
        self.port = free_port()
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def freeze(self, seconds: float) -> None:
        self.thawed.clear()
        asyncio.get_running_loop().call_later(seconds, self.thawed.set)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        if not self.thawed.is_set():
            self.held += 1
            await self.thawed.wait()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        url = self.upstream + request.path_qs
        async with self._session.request(request.method, url, data=body, headers=headers) as answer:
            payload = await answer.read()
            kind = answer.headers.get("Content-Type", "application/json")
        return web.Response(status=answer.status, body=payload, headers={"Content-Type": kind})

    async def start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=None))
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # A client that gives up must not cancel the forward: Telegram would have the message.
        self._runner = web.AppRunner(app, handler_cancellation=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        self.thawed.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@contextlib.asynccontextmanager
async def freezable_proxy(upstream: str) -> AsyncIterator[FreezableProxy]:
    proxy = FreezableProxy(upstream)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
