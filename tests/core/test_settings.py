from pathlib import Path

import pytest

from coordinator.settings import SettingsError, read_settings

KEY = "k" * 40


def test_it_uses_the_documented_defaults(tmp_path: Path):
    s = read_settings({"COORDINATOR_VAR_DIR": str(tmp_path)})
    assert s.database_url == "sqlite+aiosqlite:///./var/coordinator.db"
    assert s.locale == "vi" and s.send_rate == 30.0 and s.telegram_mode == "polling"
    assert str(s.timezone) == "Asia/Ho_Chi_Minh"


def test_it_generates_a_secret_key_once_and_keeps_it(tmp_path: Path):
    first = read_settings({"COORDINATOR_VAR_DIR": str(tmp_path)}).secret_key
    second = read_settings({"COORDINATOR_VAR_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_it_reads_secrets_from_files(tmp_path: Path):
    (tmp_path / "token").write_text("123:abc\n")
    s = read_settings(
        {"COORDINATOR_SECRET_KEY": KEY, "COORDINATOR_TELEGRAM_TOKEN_FILE": str(tmp_path / "token")}
    )
    assert s.telegram_token == "123:abc"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COORDINATOR_SEND_RATE": "fast"}, "SEND_RATE must be a number"),
        ({"COORDINATOR_SEND_RATE": "0"}, "greater than 0"),
        ({"COORDINATOR_LOCALE": "fr"}, "LOCALE must be one of vi, en"),
        ({"COORDINATOR_PAID_BROADCAST": "yes"}, "PAID_BROADCAST must be True or False"),
        ({"COORDINATOR_TELEGRAM_MODE": "webhook"}, "needs COORDINATOR_WEBHOOK_URL"),
        (
            {"COORDINATOR_TELEGRAM_MODE": "webhook", "COORDINATOR_WEBHOOK_URL": "https://x/hook"},
            "needs COORDINATOR_WEBHOOK_SECRET",
        ),
        ({"COORDINATOR_TIMEZONE": "Mars/Base"}, "unknown time zone"),
        ({"COORDINATOR_DATABASE_URL": "mysql://x"}, "must start with"),
        ({"COORDINATOR_SECRET_KEY": "short"}, "at least 32"),
        ({"COORDINATOR_TELEGRAM_TOKEN": "a", "COORDINATOR_TELEGRAM_TOKEN_FILE": "/x"}, "not both"),
        ({"COORDINATOR_TELEGRAM_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
    ],
)
def test_it_refuses_bad_values_naming_the_variable(env, message, tmp_path: Path):
    env = {"COORDINATOR_SECRET_KEY": KEY, "COORDINATOR_VAR_DIR": str(tmp_path), **env}
    with pytest.raises(SettingsError, match=message):
        read_settings(env)


def test_it_serves_the_public_host_and_loopback_and_trusts_no_proxy_by_default(tmp_path: Path):
    s = read_settings({"COORDINATOR_VAR_DIR": str(tmp_path), "COORDINATOR_SECRET_KEY": KEY})
    assert s.allowed_hosts == ("127.0.0.1", "localhost", "::1") and s.trusted_proxies == ()
    s = read_settings(
        {
            "COORDINATOR_SECRET_KEY": KEY,
            "COORDINATOR_PUBLIC_URL": "https://Doan.Example.vn/",
            "COORDINATOR_ALLOWED_HOSTS": "web1.internal, web2.internal",
            "COORDINATOR_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
        }
    )
    assert s.allowed_hosts == ("doan.example.vn", "web1.internal", "web2.internal")
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert s.https
    hooked = read_settings(
        {"COORDINATOR_SECRET_KEY": KEY, "COORDINATOR_WEBHOOK_URL": "https://hook.example.vn/t"}
    )
    assert hooked.allowed_hosts == ("hook.example.vn", "127.0.0.1", "localhost", "::1")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COORDINATOR_TRUSTED_PROXIES": "10.0.0.0/8, proxy.lan"}, "TRUSTED_PROXIES"),
        ({"COORDINATOR_PUBLIC_URL": "coordinator.example.vn"}, "PUBLIC_URL"),
    ],
)
def test_it_refuses_bad_proxies_and_public_urls(env, message):
    with pytest.raises(SettingsError, match=message):
        read_settings({"COORDINATOR_SECRET_KEY": KEY, **env})


def test_the_weekly_task_cap_is_unset_by_default_and_a_whole_number_when_set(tmp_path: Path):
    base = {"COORDINATOR_VAR_DIR": str(tmp_path)}
    assert read_settings(base).weekly_task_cap is None
    assert read_settings({**base, "COORDINATOR_WEEKLY_TASK_CAP": "3"}).weekly_task_cap == 3
    for bad in ("0", "-1", "2.5", "many"):
        with pytest.raises(SettingsError, match="COORDINATOR_WEEKLY_TASK_CAP"):
            read_settings({**base, "COORDINATOR_WEEKLY_TASK_CAP": bad})


def test_launch_parts_default_to_two_workers_from_50000_members(tmp_path: Path):
    base = {"COORDINATOR_VAR_DIR": str(tmp_path)}
    settings = read_settings(base)
    assert (settings.launch_workers, settings.launch_split_from) == (2, 50_000)
    custom = read_settings(
        {**base, "COORDINATOR_LAUNCH_WORKERS": "1", "COORDINATOR_LAUNCH_SPLIT_FROM": "10"}
    )
    assert (custom.launch_workers, custom.launch_split_from) == (1, 10)
    for name in ("COORDINATOR_LAUNCH_WORKERS", "COORDINATOR_LAUNCH_SPLIT_FROM"):
        with pytest.raises(SettingsError, match=name):
            read_settings({**base, name: "0"})
