"""The deployment's one clock for people: the configured zone (`COORDINATOR_TIMEZONE`).

Rules that speak in calendar dates (agreements are valid on dates), and everything shown to
people, read local time here, never from the server's own zone (`date.today()`).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from coordinator.base import utcnow
from coordinator.settings import get_settings


def zone() -> ZoneInfo:
    """The configured time zone (Asia/Ho_Chi_Minh unless set)."""
    return get_settings().timezone


def local_date(moment: datetime) -> date:
    return moment.astimezone(zone()).date()


def today() -> date:
    """Today's date where the deployment is, not where the server is."""
    return local_date(utcnow())


def local_time_text(moment: datetime) -> str:
    """How volunteers read a time: 17:00 30/11/2026, in the deployment's zone."""
    return moment.astimezone(zone()).strftime("%H:%M %d/%m/%Y")
