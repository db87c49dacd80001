"""Local time for rules that speak in calendar dates (agreements are valid on dates)."""

from __future__ import annotations

from datetime import date, datetime

from coordinator.settings import get_settings


def local_date(moment: datetime) -> date:
    return moment.astimezone(get_settings().timezone).date()


def local_time_text(moment: datetime) -> str:
    """How volunteers read a time: 17:00 30/11/2026, in the deployment's zone."""
    return moment.astimezone(get_settings().timezone).strftime("%H:%M %d/%m/%Y")
