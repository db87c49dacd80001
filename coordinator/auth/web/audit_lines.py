"""Audit events as sentences: who did what to which named object, with links, in vi and en."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth.models import AuditEvent, User
from coordinator.auth.web.audit_details import shown_details, wanted_ids
from coordinator.campaigns.models import Campaign, CampaignTemplate
from coordinator.i18n import translate
from coordinator.organizations.models import Agreement, Channel, Club, Member, Organization

# Each action as a sentence about its object ({object}: its name, a link where it has a page).
SENTENCES = {
    "agreement.create": "created the agreement {object}",
    "agreement.update": "changed the agreement {object}",
    "campaign.create": "created the campaign {object}",
    "campaign.update": "changed the campaign {object}",
    "campaign.content": "changed the content of the campaign {object}",
    "campaign.targets": "changed the targets of the campaign {object}",
    "campaign.schedule": "scheduled the campaign {object}",
    "campaign.launch": "launched the campaign {object}",
    "campaign.close": "closed the campaign {object}",
    "campaign.cancel": "cancelled the campaign {object}",
    "campaign.remind": "sent reminders for the campaign {object}",
    "campaign.duplicate": "duplicated a campaign as {object}",
    "campaign.template": "kept the campaign {object} as a template",
    "campaign.from_template": "started the campaign {object} from a template",
    "campaign.template_rename": "renamed the template {object}",
    "campaign.template_delete": "deleted the template {object}",
    "campaign.submit": "submitted the campaign {object} for approval",
    "campaign.approve": "approved the campaign {object}",
    "campaign.return": "returned the campaign {object} for changes",
    "channel.create": "registered the channel {object}",
    "member.reactivate": "reactivated the member {object}",
    "organization.focal_points": "named the focal points of {object}",
    "export.campaign": "exported the figures of the campaign {object}",
    "export.participation": "exported the participation figures",
    "club.create": "created the club {object}",
    "club.update": "changed the club {object}",
    "group.registered": "registered the group chat of {object}",
    "group.reachable_again": "found the group chat of {object} reachable again",
    "invite.create": "made invitations for {object}",
    "invite.sheet": "printed the invitation sheet of {object}",
    "member.create": "added the member {object}",
    "member.update": "changed the member {object}",
    "member.deactivate": "deactivated the member {object}",
    "member.import": "imported members into {object}",
    "member.linked": "linked {object} to Telegram",
    "member.reachable_again": "found {object} reachable again on Telegram",
    "mfa.code_failed": "entered a wrong second-factor code",
    "mfa.enrol": "turned on the second factor",
    "mfa.policy": "changed the second-factor rule for administrators",
    "mfa.recovery_used": "signed in with a recovery code",
    "mfa.remove": "removed the second factor of {object}",
    "organization.create": "created the organization {object}",
    "organization.update": "changed the organization {object}",
    "organization.task_cap": "set the weekly task cap of {object}",
    "outbox.retry": "sent a failed message again",
    "report.record": "recorded a report",
    "session.end": "ended a session of {object}",
    "session.end_all": "signed {object} out everywhere",
    "session.end_others": "ended their other sessions",
    "signin.failed": "failed to sign in",
    "signin.ok": "signed in",
    "token.create": "created an API token",
    "token.revoke": "revoked an API token",
    "user.activate": "reactivated the user {object}",
    "user.create": "created the user {object}",
    "user.deactivate": "deactivated the user {object}",
    "user.password_change": "changed their password",
    "user.password_change_failed": "entered a wrong current password",
    "user.password_reset": "reset the password of {object}",
    "user.role": "changed the role of {object}",
    "user.telegram_linked": "linked their Telegram account",
    "user.telegram_unlinked": "unlinked their Telegram account",
}
UNKNOWN = "did {action} on {object}"
# object_type -> (model, name column, page of one object or None)
KINDS: dict[str, tuple[Any, str, str | None]] = {
    "campaign": (Campaign, "title", "/campaigns/{id}"),
    "organization": (Organization, "name", "/organizations/{id}"),
    "agreement": (Agreement, "title", "/agreements/{id}/edit"),
    "user": (User, "username", "/users?q={name}"),
    "member": (Member, "display_name", None),
    "club": (Club, "name", None),
    "channel": (Channel, "name", None),
    "template": (CampaignTemplate, "title", "/campaigns/templates/{id}"),
}


@dataclass(frozen=True)
class Line:
    """One event as shown: the sentence split around its object's name, and the details."""

    event: AuditEvent
    who: str
    before: str
    name: str
    href: str | None
    after: str
    details: list[tuple[str, str]]


async def names_of(session: AsyncSession, events: Iterable[AuditEvent]) -> dict[Any, str]:
    """(object_type, id) -> name, for users who acted and the objects named."""
    events = list(events)
    wanted: dict[str, set[int]] = {"user": set()}
    for kind, ids in wanted_ids(e.detail for e in events).items():
        wanted.setdefault(kind, set()).update(ids)
    for e in events:
        if e.actor_user_id:
            wanted["user"].add(e.actor_user_id)
        if e.object_type in KINDS and e.object_id:
            wanted.setdefault(e.object_type, set()).add(e.object_id)
    names: dict[Any, str] = {}
    for kind, ids in wanted.items():
        model, column, _ = KINDS[kind]
        rows = await session.execute(
            select(model.id, getattr(model, column)).where(col(model.id).in_(ids))
        )
        names.update({(kind, i): str(n) for i, n in rows.all()})
    return names


def line(lang: str, e: AuditEvent, names: dict[Any, str]) -> Line:
    who = names.get(("user", e.actor_user_id), "") if e.actor_user_id else ""
    known = e.object_type in KINDS and e.object_id is not None
    # A deleted object keeps the name its event recorded.
    gone = str((e.detail or {}).get("title") or f"#{e.object_id}")
    name = names.get((e.object_type, e.object_id), gone) if known else ""
    page = KINDS[e.object_type][2] if known else None
    href = page.format(id=e.object_id, name=name) if page and name else None
    if e.action in SENTENCES:
        text = translate(lang, SENTENCES[e.action], object="\x00")
    else:
        text = translate(lang, UNKNOWN, action=e.action, object="\x00")
    before, _, after = text.partition("\x00")
    details = shown_details(lang, e.action, e.detail, names)
    return Line(e, who or translate(lang, "system"), before, name, href, after, details)
