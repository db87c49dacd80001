"""Campaign forms in the browser: the editor's fields read into a draft and written back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from coordinator.base import plain_digits, utcnow
from coordinator.campaigns.drafting import ORG_HOURS, CampaignDraft, draft_errors
from coordinator.campaigns.models import (
    DEFAULT_ORG_ESCALATE_HOURS,
    DEFAULT_ORG_REMIND_HOURS,
    Campaign,
)
from coordinator.campaigns.states import CAMPAIGN_STATUSES
from coordinator.errors import Invalid
from coordinator.web.context import AnyRequest, field_errors, form_int, say

STATUSES = CAMPAIGN_STATUSES
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
# A form without these fields (an older page, a script) gets the defaults; an empty one: never.
ORG_DEFAULTS = {
    "org_remind_after_hours": DEFAULT_ORG_REMIND_HOURS,
    "org_escalate_after_hours": DEFAULT_ORG_ESCALATE_HOURS,
    "org_auto_pass_on_after_hours": None,
}
ORG_HOURS_ERROR = "empty for never, or 1-168 hours"


def settings_of(request: AnyRequest) -> Any:
    return request.app.state.settings


def local_input(request: AnyRequest, value: datetime | None) -> str:
    """A stored UTC time as a datetime-local input value."""
    return value.astimezone(settings_of(request).timezone).strftime(LOCAL_INPUT) if value else ""


def parse_local(request: AnyRequest, value: Any, field: str) -> datetime:
    try:
        naive = datetime.strptime(str(value), LOCAL_INPUT)
    except ValueError:
        raise Invalid(
            "Check the times.", errors=[{"field": field, "message": "a date and time is needed"}]
        ) from None
    return naive.replace(tzinfo=settings_of(request).timezone)


def read_draft(request: AnyRequest, data: dict[str, Any]) -> CampaignDraft:
    """The form's fields as a draft; every unreadable field is reported at once."""
    quota = str(data.get("quota_percent", "")).strip()
    share = str(data.get("ask_share_percent", "")).strip()
    errors = []
    times = {}
    for name in ("launch_at", "deadline_at"):
        try:
            times[name] = parse_local(request, data.get(name), name)
        except Invalid as exc:
            errors += exc.errors or []
    if quota and not plain_digits(quota):
        errors.append({"field": "quota_percent", "message": "between 1 and 100"})
    if share and not plain_digits(share):
        errors.append({"field": "ask_share_percent", "message": "between 1 and 100"})
    hours = str(data.get("reminder_hours", "")).replace(",", " ").split()
    if not all(plain_digits(h) for h in hours):
        errors.append({"field": "reminder_hours", "message": "up to 5 values, each 1-168 hours"})
    org_hours = _org_hours(data)
    errors += [
        {"field": name, "message": ORG_HOURS_ERROR}
        for name in ORG_HOURS
        if org_hours[name] is None and str(data.get(name, "")).strip()
    ]
    if errors:
        raise Invalid("The campaign cannot be saved.", errors=errors + _other_errors(data))
    return CampaignDraft(
        agreement_id=form_int(data.get("agreement_id")) or 0,
        title=str(data.get("title", "")),
        brief=str(data.get("brief", "")),
        launch_at=times["launch_at"],
        deadline_at=times["deadline_at"],
        quota_percent=int(quota) if quota else None,
        ask_share_percent=int(share) if share else None,
        delivery_mode=str(data.get("delivery_mode", "")) or None,  # empty: follow the targets
        proof_requested=data.get("proof_requested") == "on",
        reminder_hours=[int(h) for h in hours],
        remind_in_quiet_hours=data.get("remind_in_quiet_hours") == "on",
        paid_broadcast=data.get("paid_broadcast") == "on",
        **org_hours,
        not_before=utcnow(),
    )


def _org_hours(data: dict[str, Any]) -> dict[str, int | None]:
    """The time limits as typed: a number, or None when empty (or unreadable: said apart)."""
    read = {}
    for name in ORG_HOURS:
        value = str(data.get(name, ORG_DEFAULTS[name] or "")).strip()
        read[name] = int(value) if plain_digits(value) else None
    return read


def _other_errors(data: dict[str, Any]) -> list[dict[str, str]]:
    """When some fields cannot be read, what is wrong with the others, so that every error
    shows at once."""
    far = datetime(9999, 1, 1, tzinfo=UTC)
    draft = CampaignDraft(
        agreement_id=0,
        title=str(data.get("title", "")),
        brief=str(data.get("brief", "")),
        launch_at=far,
        deadline_at=far,
        delivery_mode=str(data.get("delivery_mode", "")) or None,
        reminder_hours=[],
    )
    for name, hours in _org_hours(data).items():
        setattr(draft, name, hours)
    fields = ("title", "brief", "delivery_mode", *ORG_HOURS)
    return [e for e in draft_errors(draft) if e.get("field") in fields]


def form_values(request: AnyRequest, campaign: Campaign) -> dict[str, Any]:
    return {
        "agreement_id": campaign.agreement_id,
        "title": campaign.title,
        "brief": campaign.brief,
        "launch_at": local_input(request, campaign.launch_at),
        "deadline_at": local_input(request, campaign.deadline_at),
        "quota_percent": campaign.quota_percent or "",
        "ask_share_percent": campaign.ask_share_percent or "",
        "delivery_mode": "" if campaign.delivery_mode_auto else campaign.delivery_mode,
        "proof_requested": "on" if campaign.proof_requested else "",
        "reminder_hours": ", ".join(str(h) for h in campaign.reminder_hours),
        "remind_in_quiet_hours": "on" if campaign.remind_in_quiet_hours else "",
        "paid_broadcast": "on" if campaign.paid_broadcast else "",
        **{
            name: "" if getattr(campaign, name) is None else getattr(campaign, name)
            for name in ORG_HOURS
        },
    }


def form_errors(exc: Invalid, lang: str) -> dict[str, str]:
    errors = field_errors(exc, lang)
    if not errors:
        errors[""] = say(lang, exc)
    elif exc.code == "agreement_not_valid":
        errors["agreement_id"] = say(lang, exc)
    return errors
