"""End-to-end fixtures: `coordinator serve` started on loopback with demo data, and real headless
Chromium (Debian's package) driven by Playwright. Every page fails its test on a console error."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from coordinator.sandbox.run import free_port
from tests import dbtools
from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COORDINATOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("COORDINATOR_TEST_OUTPUT", ROOT / "test-output")) / BACKEND
PASSWORD = "demo-password-2026"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@dataclass
class Server:
    url: str
    sandbox_url: str
    database_url: str
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _wait_until_up(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the server stopped: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not come up in time")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The whole product as `make run` starts it: web, bot, sender and the sandbox."""
    yield from serve(tmp_path_factory)


def serve(
    tmp_path_factory: pytest.TempPathFactory, prepare: Callable[[str], None] | None = None
) -> Iterator[Server]:
    """Migrates a fresh database, loads the demo province (then `prepare(database_url)`, for
    what the demo lacks) and serves it until closed."""
    home = tmp_path_factory.mktemp("e2e")
    if BACKEND == "sqlite":
        database_url = f"sqlite+aiosqlite:///{home}/e2e.db"
    else:
        base = os.environ["COORDINATOR_TEST_POSTGRES_URL"]
        database_url = _run(dbtools.create_pg_database(base, f"coord_e2e_{uuid.uuid4().hex[:10]}"))
    env = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": database_url,
        "COORDINATOR_VAR_DIR": str(home / "var"),
    }
    env.pop("COORDINATOR_TELEGRAM_TOKEN", None)
    _cli(env, "db", "upgrade")
    _cli(env, "demo", "--members", "200")
    if prepare is not None:
        prepare(database_url)
    port, sandbox_port = free_port(), free_port()
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
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield Server(url, f"http://127.0.0.1:{sandbox_port}", database_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if BACKEND == "postgres":
            _run(dbtools.drop_pg_database(database_url))


def _run(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")  # closed with the module, so later tests find no loop running
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


class Pages:
    """Opens browser tabs (one context per user) and collects their console errors."""

    def __init__(self, browser: Browser, server: Server, *, phone: bool = False) -> None:
        self.browser, self.server, self.phone = browser, server, phone
        self.errors: list[str] = []
        self.failed: list[str] = []  # responses >= 400, to tell which request an error was
        self._contexts: list[object] = []

    def new(self, *, phone: bool | None = None) -> Page:
        phone = self.phone if phone is None else phone
        viewport = PHONE if phone else DESKTOP
        context = self.browser.new_context(
            base_url=self.server.url, viewport=viewport, locale="vi-VN"
        )
        self._contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.type}: {m.text} ({page.url})")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e} ({page.url})"))
        page.on(
            "response",
            lambda r: (
                self.failed.append(f"{r.request.method} {r.url} -> {r.status}")
                if r.status >= 400
                else None
            ),
        )
        page.on("dialog", lambda d: d.accept())
        return page

    def signed_in(self, username: str, *, phone: bool | None = None) -> Page:
        page = self.new(phone=phone)
        sign_in(page, username)
        return page

    def close(self) -> None:
        for context in self._contexts:
            context.close()  # type: ignore[attr-defined]


@pytest.fixture
def pages(browser: Browser, server: Server) -> Iterator[Pages]:
    yield from open_pages(browser, server)


def open_pages(browser: Browser, server: Server, *, phone: bool = False) -> Iterator[Pages]:
    """Tabs for one test, which fails on any console error they logged."""
    opened = Pages(browser, server, phone=phone)
    yield opened
    opened.close()
    assert opened.errors == [], "\n".join(
        ["browser console errors:", *opened.errors, "responses >= 400:", *opened.failed]
    )


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(lambda url: "/signin" not in url)


def open_menu(page: Page) -> None:
    """On a phone the navigation and the account links sit behind the menu button."""
    toggle = page.locator("label.menu-button")
    if toggle.is_visible() and not page.locator("#menu-toggle").is_checked():
        toggle.click()


def screenshot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
