"""`coordinator worker` processes against one database and a sandbox, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

TOKEN = "1000:sandbox"


def start_worker(url: str, sandbox_url: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """One worker (bot, sender, scheduler) talking to the sandbox at `sandbox_url`."""
    environment = {
        **os.environ,
        "COORDINATOR_DATABASE_URL": url,
        "COORDINATOR_TELEGRAM_TOKEN": TOKEN,
        "COORDINATOR_TELEGRAM_API_URL": f"{sandbox_url}/bot",
        "COORDINATOR_VAR_DIR": str(log.parent),
        **env,
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "coordinator", "worker"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each still running, then wait; SIGKILL what does not stop in 10 s."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
