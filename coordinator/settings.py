"""Settings read once from the environment, parsed strictly; secrets may come from *_FILE."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    paid_broadcast: bool = False  # allow_paid_broadcast on every message (bots that qualify)

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
    database_url = _raw("DATABASE_URL", env, secret=True) or DEFAULT_DATABASE_URL
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError(
            f"{PREFIX}DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    mode = _choice("TELEGRAM_MODE", _raw("TELEGRAM_MODE", env), "polling", ("polling", "webhook"))
    webhook_url = _raw("WEBHOOK_URL", env)
    if mode == "webhook" and not webhook_url:
        raise SettingsError(f"{PREFIX}TELEGRAM_MODE=webhook needs {PREFIX}WEBHOOK_URL")
    webhook_secret = _raw("WEBHOOK_SECRET", env, secret=True)
    if mode == "webhook" and not webhook_secret:
        raise SettingsError(f"{PREFIX}TELEGRAM_MODE=webhook needs {PREFIX}WEBHOOK_SECRET")
    return Settings(
        database_url=database_url,
        secret_key=_secret_key(_raw("SECRET_KEY", env, secret=True), var_dir),
        telegram_token=_raw("TELEGRAM_TOKEN", env, secret=True),
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
        paid_broadcast=_bool("PAID_BROADCAST", _raw("PAID_BROADCAST", env), False),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return read_settings()
