"""Settings read once from the environment, parsed strictly; secrets may come from *_FILE."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coordinator.base import plain_digits

PREFIX = "COORDINATOR_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/coordinator.db"
DEFAULT_SEND_RATE = 30.0


class SettingsError(ValueError):
    """A setting is present but cannot be used; the message names the variable."""


def _raw(name: str, env: dict[str, str], *, secret: bool = False) -> str | None:
    key = PREFIX + name
    if secret and f"{key}_FILE" in env:
        if key in env:
            raise SettingsError(f"set {key} or {key}_FILE, not both")
        path = Path(env[f"{key}_FILE"])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{key}_FILE: cannot read {path}: {exc.strerror}") from None
    value = env.get(key)
    return value if value not in (None, "") else None


def _choice(name: str, value: str | None, default: str, allowed: tuple[str, ...]) -> str:
    value = value or default
    if value not in allowed:
        raise SettingsError(f"{PREFIX}{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _positive_float(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number, not {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{PREFIX}{name} must be greater than 0")
    return number


def _optional_count(name: str, value: str | None) -> int | None:
    """A whole number of at least 1, or None when unset."""
    if value is None:
        return None
    if not plain_digits(value) or int(value) < 1:
        raise SettingsError(f"{PREFIX}{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def _bool(name: str, value: str | None, default: bool) -> bool:
    """Only `True` or `False`: a typo must not silently mean either."""
    if value is None:
        return default
    if value not in ("True", "False"):
        raise SettingsError(f"{PREFIX}{name} must be True or False, not {value!r}")
    return value == "True"


def _timezone(value: str | None) -> ZoneInfo:
    name = value or "Asia/Ho_Chi_Minh"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{PREFIX}TIMEZONE: unknown time zone {name!r}") from None


def _secret_key(value: str | None, var_dir: Path) -> str:
    """Use the configured key, else one generated once and kept under var/."""
    if value:
        if len(value) < 32:
            raise SettingsError(f"{PREFIX}SECRET_KEY must be at least 32 characters")
        return value
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def _database_url(name: str, env: dict[str, str]) -> str | None:
    url = _raw(name, env, secret=True)
    if url is not None and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError(
            f"{PREFIX}{name} must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    return url


@dataclass(frozen=True)
class BotConfig:
    """A bot beside the default one: its short name, its token, and the organization whose
    subtree it serves (typically a province)."""

    name: str
    token: str
    organization_id: int


BOT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
BOT_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
DEFAULT_BOT_NAME = "default"  # the name of COORDINATOR_TELEGRAM_TOKEN's bot


def _bots(value: str | None, default_token: str | None) -> tuple[BotConfig, ...]:
    """COORDINATOR_TELEGRAM_BOTS: `name=token@organization_id` items separated by commas (or
    new lines, for a *_FILE). Each name, token and organization once; never the default's."""
    key = f"{PREFIX}TELEGRAM_BOTS"
    items = [i.strip() for i in re.split(r"[,\n]", value or "") if i.strip()]
    if items and default_token is None:
        raise SettingsError(f"{key} needs {PREFIX}TELEGRAM_TOKEN (the default bot) too")
    bots: list[BotConfig] = []
    for item in items:
        name, _, rest = item.partition("=")
        token, _, org = rest.rpartition("@")
        name = name.strip()
        shown = name or "(no name)"  # never the token: error messages end up in logs
        if not BOT_NAME.fullmatch(name) or name == DEFAULT_BOT_NAME:
            raise SettingsError(
                f"{key}: {shown!r} is not a bot name (a-z, 0-9, _ and -, at most 32, "
                f"not {DEFAULT_BOT_NAME!r}); write name=token@organization_id"
            )
        if "@" not in rest or not plain_digits(org.strip()) or int(org) <= 0:
            raise SettingsError(f"{key}: bot {name!r} needs @organization_id (a number)")
        if not BOT_TOKEN.fullmatch(token.strip()):
            raise SettingsError(f"{key}: bot {name!r} needs a token like 123456:ABC-def")
        bots.append(BotConfig(name, token.strip(), int(org)))
    for field, what in (("name", "name"), ("token", "token"), ("organization_id", "organization")):
        values = [getattr(b, field) for b in bots]
        if len(set(values)) != len(values):
            raise SettingsError(f"{key}: each bot needs its own {what}")
    if any(b.token == default_token for b in bots):
        raise SettingsError(f"{key}: a bot has the token of {PREFIX}TELEGRAM_TOKEN")
    return tuple(bots)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _public_host(public_url: str | None) -> str | None:
    if public_url is None:
        return None
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{PREFIX}PUBLIC_URL must be an http(s):// URL, not {public_url!r}")
    return parts.hostname


def _allowed_hosts(
    value: str | None, public_url: str | None, webhook_url: str | None
) -> tuple[str, ...]:
    """Host names the web answers to: the public URL's, the webhook URL's (Telegram calls it),
    the listed ones ('*': any), and loopback when nothing is listed (so `make run` works on
    127.0.0.1 and localhost)."""
    listed = [h.strip().lower() for h in (value or "").split(",") if h.strip()]
    own = [urlsplit(webhook_url).hostname] if webhook_url else []
    own.insert(0, _public_host(public_url))
    hosts = [*(h for h in own if h), *(listed or LOCAL_HOSTS)]
    return tuple(dict.fromkeys(hosts))


def _networks(name: str, value: str | None) -> tuple[Network, ...]:
    networks = []
    for item in (value or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise SettingsError(
                    f"{PREFIX}{name}: {item.strip()!r} is not an address or network"
                ) from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    telegram_token: str | None
    telegram_api_url: str | None
    telegram_mode: str
    webhook_url: str | None
    webhook_secret: str | None
    locale: str
    send_rate: float
    timezone: ZoneInfo
    var_dir: Path
    public_url: str | None = None
    migration_database_url: str | None = None  # the owner role's, for `coordinator db upgrade`
    # Admins must use a second factor; "optional" is for test suites and closed trainings only.
    mfa_admins_required: bool = True
    # The Host header values served (others get 400); '*' in the list serves any.
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (reverse proxies).
    trusted_proxies: tuple[Network, ...] = ()
    ready_stale_seconds: float = 60.0  # a loop without a good tick this long is not ready
    ready_lag_seconds: float = 300.0  # the oldest due outbox message waiting this long: not ready
    paid_broadcast: bool = False  # allow_paid_broadcast on every message (bots that qualify)
    metrics_token: str | None = None  # GET /metrics from beyond loopback: this bearer token
    # Fair load: at most this many tasks per volunteer per ISO week, local time (None: no cap;
    # an organization's own cap can only be smaller).
    weekly_task_cap: int | None = None
    # Bots beside the default one, each serving an organization subtree.
    telegram_bots: tuple[BotConfig, ...] = ()
    # A first launch to this many members or more, on PostgreSQL, is written in parts by this
    # many transactions at once (`campaigns/launch_parts.py`); 1: always one transaction.
    launch_workers: int = 2
    launch_split_from: int = 50_000

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def https(self) -> bool:
        """Served over HTTPS (behind a proxy): cookies are then marked Secure."""
        return bool(self.public_url and self.public_url.startswith("https://"))


def read_settings(env: dict[str, str] | None = None) -> Settings:
    """Parse settings from `env` (default: os.environ); raise SettingsError on bad values."""
    env = dict(os.environ if env is None else env)
    var_dir = Path(_raw("VAR_DIR", env) or "var")
    database_url = _database_url("DATABASE_URL", env) or DEFAULT_DATABASE_URL
    migration_database_url = _database_url("MIGRATION_DATABASE_URL", env)
    mode = _choice("TELEGRAM_MODE", _raw("TELEGRAM_MODE", env), "polling", ("polling", "webhook"))
    webhook_url = _raw("WEBHOOK_URL", env)
    if mode == "webhook" and not webhook_url:
        raise SettingsError(f"{PREFIX}TELEGRAM_MODE=webhook needs {PREFIX}WEBHOOK_URL")
    webhook_secret = _raw("WEBHOOK_SECRET", env, secret=True)
    if mode == "webhook" and not webhook_secret:
        raise SettingsError(f"{PREFIX}TELEGRAM_MODE=webhook needs {PREFIX}WEBHOOK_SECRET")
    telegram_token = _raw("TELEGRAM_TOKEN", env, secret=True)
    return Settings(
        database_url=database_url,
        secret_key=_secret_key(_raw("SECRET_KEY", env, secret=True), var_dir),
        telegram_token=telegram_token,
        telegram_api_url=_raw("TELEGRAM_API_URL", env),
        telegram_mode=mode,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        locale=_choice("LOCALE", _raw("LOCALE", env), "vi", ("vi", "en")),
        # Telegram's own 30/s: the pacer keeps its safety margin itself, on actual send times.
        send_rate=_positive_float("SEND_RATE", _raw("SEND_RATE", env), DEFAULT_SEND_RATE),
        timezone=_timezone(_raw("TIMEZONE", env)),
        var_dir=var_dir,
        public_url=_raw("PUBLIC_URL", env),
        migration_database_url=migration_database_url,
        mfa_admins_required=_choice(
            "MFA_ADMINS", _raw("MFA_ADMINS", env), "required", ("required", "optional")
        )
        == "required",
        allowed_hosts=_allowed_hosts(
            _raw("ALLOWED_HOSTS", env), _raw("PUBLIC_URL", env), webhook_url
        ),
        trusted_proxies=_networks("TRUSTED_PROXIES", _raw("TRUSTED_PROXIES", env)),
        ready_stale_seconds=_positive_float(
            "READY_STALE_SECONDS", _raw("READY_STALE_SECONDS", env), 60.0
        ),
        ready_lag_seconds=_positive_float(
            "READY_LAG_SECONDS", _raw("READY_LAG_SECONDS", env), 300.0
        ),
        paid_broadcast=_bool("PAID_BROADCAST", _raw("PAID_BROADCAST", env), False),
        metrics_token=_raw("METRICS_TOKEN", env, secret=True),
        weekly_task_cap=_optional_count("WEEKLY_TASK_CAP", _raw("WEEKLY_TASK_CAP", env)),
        telegram_bots=_bots(_raw("TELEGRAM_BOTS", env, secret=True), telegram_token),
        launch_workers=_optional_count("LAUNCH_WORKERS", _raw("LAUNCH_WORKERS", env)) or 2,
        launch_split_from=_optional_count("LAUNCH_SPLIT_FROM", _raw("LAUNCH_SPLIT_FROM", env))
        or 50_000,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return read_settings()
