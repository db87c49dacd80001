"""deploy/: the systemd units, the environment file and the TLS proxy a province copies.

The units are checked by systemd itself (`systemd-analyze verify`, with the ExecStart paths
pointed at this checkout), and every command they run must be a `coordinator` command that
takes the options given. The environment example must name every setting the code reads.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALLED = "/opt/coordinator/venv/bin/coordinator"
SERVICES = sorted(UNITS.glob("*.service"))
LONG_RUNNING = ("coordinator-web@.service", "coordinator-worker@.service")


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def _coordinator_calls(path: Path) -> list[list[str]]:
    """The `coordinator ...` argument lists a unit runs, through `sh -c` too."""
    calls = []
    for key in ("ExecStart", "ExecStartPre", "ExecStartPost"):
        line = _unit(path)["Service"].get(key)
        if not line:
            continue
        words = shlex.split(line)
        if words[0].endswith("/sh") and words[1] == "-c":
            words = shlex.split(words[2])
            words = words[1:] if words[0] == "exec" else words
        if words[0] == INSTALLED:
            calls.append(words[1:])
    return calls


def _command_path(words: list[str]) -> list[str]:
    """The subcommand words before the first option or argument, e.g. ['db', 'upgrade']."""
    group, path = cli, []
    for word in words:
        commands = getattr(group, "commands", {})
        if word not in commands:
            break
        path.append(word)
        group = commands[word]
    return path


CALLS = [
    pytest.param(path.name, words, id=f"{path.name}:{' '.join(words[:2])}")
    for path in SERVICES
    for words in _coordinator_calls(path)
]


def test_every_service_runs_a_coordinator_command():
    assert {p.name for p in SERVICES} >= {
        "coordinator-web@.service",
        "coordinator-worker@.service",
        "coordinator-migrate.service",
        "coordinator-backup.service",
    }
    assert len(CALLS) == len(SERVICES)


@pytest.mark.parametrize(("unit", "words"), CALLS)
def test_the_command_exists_with_its_options(unit, words):
    path = _command_path(words)
    assert path, f"{unit}: {words[0]!r} is not a coordinator command"
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in (w for w in words if w.startswith("--")):
        assert option in result.stdout, f"{unit}: `coordinator {' '.join(path)}` has no {option}"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_service_is_confined(path):
    service = _unit(path)["Service"]
    assert service["User"] == "coordinator"
    assert service["EnvironmentFile"] == "/etc/coordinator/coordinator.env"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/coordinator",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert service.get(key) == value, f"{path.name}: {key} should be {value!r}"
    if path.name in LONG_RUNNING:
        assert service["Restart"] == "on-failure"
        unit = _unit(path)["Unit"]
        assert "coordinator-migrate.service" in unit["Requires"].split()
        assert "coordinator-migrate.service" in unit["After"].split()


def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify` prints unknown keys and bad values as warnings: none allowed."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    here = str(Path(sys.executable).parent / "coordinator")
    names = []
    for path in UNITS.iterdir():
        name = path.name.replace("@.", "@8001.")  # a template is verified as one instance
        (tmp_path / name).write_text(path.read_text().replace(INSTALLED, here))
        names.append(str(tmp_path / name))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(names)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_the_environment_example_names_every_setting():
    source = (ROOT / "coordinator" / "settings.py").read_text()
    read = set(re.findall(r'_(?:raw|database_url)\(\s*"([A-Z_]+)"', source))
    example = (DEPLOY / "coordinator.env.example").read_text()
    missing = sorted(n for n in read if f"COORDINATOR_{n}" not in example)
    assert not missing, f"deploy/coordinator.env.example lacks {missing}"
    secrets = ("DATABASE_URL", "SECRET_KEY", "TELEGRAM_TOKEN")
    for name in secrets:
        assert re.search(rf"^COORDINATOR_{name}_FILE=/etc/coordinator/secrets/", example, re.M)
        assert not re.search(rf"^COORDINATOR_{name}=", example, re.M), f"{name} in clear"


def test_only_the_migration_and_backup_units_can_read_the_owner_role():
    """The owner role could rewrite the audit log: web and worker must not reach its URL."""
    example = (DEPLOY / "coordinator.env.example").read_text()
    assert not re.search(r"^COORDINATOR_MIGRATION_DATABASE_URL", example, re.M)
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = unit.read_text()
        owner = "LoadCredential=migration_database_url:" in text
        assert owner == (unit.name in ("coordinator-migrate.service", "coordinator-backup.service"))
        if owner:
            assert "COORDINATOR_MIGRATION_DATABASE_URL_FILE=%d/migration_database_url" in text


def test_the_proxy_never_logs_the_webhook_secret():
    caddyfile = (DEPLOY / "caddy/Caddyfile").read_text()
    assert "request>headers>X-Telegram-Bot-Api-Secret-Token delete" in caddyfile


def test_caddy_accepts_the_proxy_config():
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    result = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", DEPLOY / "caddy/Caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
