"""Running the sandbox on loopback: in-process (tests, `serve`) or as its own command."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from coordinator.sandbox.server import Sandbox
from coordinator.sandbox.state import World


@dataclass
class RunningSandbox:
    app: Sandbox
    host: str
    port: int

    @property
    def world(self) -> World:
        return self.app.world

    @property
    def base_url(self) -> str:
        """python-telegram-bot's `base_url`: the token is appended to it."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# Like the real Bot API, the sandbox keeps idle connections open longer than its clients do
# (httpx 5 s, aiohttp 15 s). At uvicorn's default of 5 s both sides timed out together, and a
# client could reuse a connection the server was closing: "Server disconnected".
SANDBOX_KEEP_ALIVE = 75


@contextlib.asynccontextmanager
async def running_sandbox(
    world: World | None = None, host: str = "127.0.0.1", port: int | None = None
) -> AsyncIterator[RunningSandbox]:
    """Serve a sandbox until the block ends; waits until it accepts connections."""
    app = Sandbox(world)
    port = port or free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=1,  # long polls would otherwise hold shutdown for their timeout
        timeout_keep_alive=SANDBOX_KEEP_ALIVE,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.01)
        yield RunningSandbox(app, host, port)
    finally:
        await app.world.close()  # long polls answer now instead of holding the shutdown
        server.should_exit = True
        await task
