"""Who may do what: every "may this actor ..." and "counts only?" question, in one place.

The API and the pages ask the same questions. Services call `require(...)`; routers and route
handlers use `guard(question)` in `guards=[...]`; pages and templates read `rights(actor)`
(templates see it as `can`) and never test a role. `scope` beside this module turns the same
rules into query filters (which rows an actor may see), asking the questions here: it imports
this module, never the other way round (so `Actor` is defined here, and `scope` re-exports it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from coordinator.errors import Forbidden

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Actor:
    """Who is acting, with their place in the organization tree resolved once per request
    (`scope.actor_for`)."""

    user_id: int | None
    role: str
    organization_id: int
    subtree: frozenset[int]
    ancestors: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE

    @property
    def lineage(self) -> frozenset[int]:
        return self.subtree | self.ancestors


# The scheduler and the bot act as the system: admin rights, no user behind them.
SYSTEM = Actor(
    user_id=None, role=ADMIN_ROLE, organization_id=0, subtree=frozenset(), ancestors=frozenset()
)

Question = Callable[[Actor], bool]


class HasRole(Protocol):
    """An actor or a stored user: the digests ask about users before there is an actor."""

    @property
    def role(self) -> str: ...


ActorResolver = Callable[[ASGIConnection[Any, Any, Any, Any]], Awaitable[Actor]]
REFUSED = "Your role does not allow this."


# ---- the questions (one function per rule) ----


def counts_only(actor: Actor) -> bool:
    """Leadership sees aggregates: no names, and counts under five are masked."""
    return actor.role == "leadership"


def sees_names(actor: Actor) -> bool:
    """Named members, group chats, assignments and reports."""
    return not counts_only(actor)


def administers(actor: Actor) -> bool:
    """Users, agreements, the outbox's review, deployment settings."""
    return actor.is_admin


def sees_everything(who: HasRole) -> bool:
    """Every campaign, agreement and organization's figures (leadership in counts only): so
    nothing reads their subtree or ancestors, and `scope.actor_for` skips those queries."""
    return who.role in (ADMIN_ROLE, "leadership")


def coordinates(actor: Actor) -> bool:
    """Works through their organization's agreements: sees and runs the campaigns under the
    agreements their organization is party to (not those that merely reach it)."""
    return actor.role == "coordinator"


def runs_campaigns(actor: Actor) -> bool:
    """Drafting, editing, launching and closing campaigns (within `scope.campaigns`)."""
    return actor.role in ("admin", "coordinator")


def manages_people(actor: Actor) -> bool:
    """Members, clubs, group chats and invites of some organization (which ones:
    `manages_organization`)."""
    return actor.role in ("admin", "lead")


def manages_organization(actor: Actor, organization_id: int) -> bool:
    """Changes to an organization's people and groups: admins, or leads of its subtree."""
    return actor.is_admin or (actor.role == "lead" and organization_id in actor.subtree)


def sees_organizations(actor: Actor) -> bool:
    """The organization tree: organizations, their kinds, clubs and official channels, for the
    API and the pages alike. They name no one, so leadership sees them too; member counts, group
    chats and member lists stay behind `sees_names`."""
    return True


def own_subtree(actor: Actor) -> frozenset[int] | None:
    """The organizations whose figures are the actor's own: a lead's subtree; None for roles
    that see every organization's figures."""
    return actor.subtree if actor.role == "lead" else None


# auth


def connects_own_telegram(actor: Actor) -> bool:
    """Connecting one's own Telegram: the roles the bot writes to (leads and leadership get
    digests, coordinators the campaigns waiting for their approval), and admins."""
    return actor.is_admin or actor.role in ("coordinator", "lead", "leadership")


# organizations slice


def sees_members_of(actor: Actor, organization_id: int) -> bool:
    """Named members of this organization: admins, or coordinators and leads of its subtree
    (the same rule `scope.members` applies to queries)."""
    return actor.is_admin or (sees_names(actor) and organization_id in actor.subtree)


# tallies


def tally_audience(actor: Actor) -> Hashable:
    """Actors who see the same tallies (the same figures, masked alike) share a cache entry:
    admins and leadership see everything; coordinators and leads by their organization."""
    if sees_everything(actor):
        return actor.role
    return (actor.role, actor.organization_id)


def sees_figures(actor: Actor) -> bool:
    """Participation figures (what `tallies/masked.py` shows them decides `counts_only`)."""
    return actor.role in ("admin", "coordinator", "lead", "leadership")


def keeps_the_deployment(role: str) -> bool:
    """A user of this role administers the deployment: the last active one may not leave."""
    return role == ADMIN_ROLE


def gets_daily_digest(user: HasRole) -> bool:
    """Each morning, the running campaigns of their organizations and who is not done yet."""
    return user.role == "lead"


def gets_weekly_summary(user: HasRole) -> bool:
    """Each Monday, last week in counts only."""
    return user.role == "leadership"


# agreements


def drafts_agreements(actor: Actor) -> bool:
    """Recording and correcting agreements at all: admins, and coordinators (for agreements
    their own organization leads: `drafts_agreement_for`)."""
    return actor.is_admin or coordinates(actor)


def drafts_agreement_for(actor: Actor, lead_organization_id: int) -> bool:
    """An agreement led by this organization: admins, or coordinators of that organization."""
    return actor.is_admin or (coordinates(actor) and actor.organization_id == lead_organization_id)


# approvals


def approves_for(actor: Actor, lead_organization_id: int) -> bool:
    """Approving or returning a campaign submitted under an agreement: admins, or coordinators
    of the agreement's lead organization: those who speak for the lead, as in drafting it."""
    return drafts_agreement_for(actor, lead_organization_id)


def registers_channels_for(actor: Actor, organization_id: int) -> bool:
    """Official channels of this organization: admins, leads who manage it, and coordinators
    whose reach (their organization and those below it) holds it."""
    return manages_organization(actor, organization_id) or (
        coordinates(actor) and organization_id in actor.subtree
    )


AGREEMENT_REFUSED = "Only an administrator or a coordinator of the lead organization can do this."
CHANNEL_REFUSED = (
    "Only an administrator, or a coordinator or lead above this organization, can do this."
)


# campaigns slice: templates
def changes_template(
    actor: Actor, created_by_user_id: int | None, lead_organization_id: int
) -> bool:
    """Renaming or deleting a saved template: admins, the coordinator who saved it, and the
    coordinators of its agreement's lead organization (who speak for the agreement)."""
    return (
        actor.is_admin
        or (
            runs_campaigns(actor)
            and created_by_user_id is not None
            and created_by_user_id == actor.user_id
        )
        or drafts_agreement_for(actor, lead_organization_id)
    )


TEMPLATE_REFUSED = (
    "Only an administrator, the coordinator who saved this template or a coordinator of the "
    "lead organization can change it."
)


# campaigns slice: delivery through organizations (focal points)
def names_focal_points(actor: Actor, organization_id: int) -> bool:
    """Who receives an organization's campaigns: those who manage the organization (admins,
    leads of its subtree), on the API and on the agreement's focal point page alike."""
    return manages_organization(actor, organization_id)


def reminds_organizations(actor: Actor) -> bool:
    """ "Remind now" for an organization task: those who manage the campaign (which campaigns:
    `scope.editable_campaign`)."""
    return runs_campaigns(actor)


FOCAL_POINTS_REFUSED = (
    "Only an administrator or a lead of this organization can name its focal points."
)


# campaigns slice: fair load
def sets_task_cap_for(actor: Actor, organization_id: int) -> bool:
    """The weekly cap on tasks per member of this organization: those who look after its
    people (admins, leads of its subtree); it can only lower the deployment's cap."""
    return manages_organization(actor, organization_id)


TASK_CAP_REFUSED = (
    "Only an administrator or a lead of this organization or one above it can do this."
)


# ---- enforcing them ----


def require(allowed: bool, refusal: str = REFUSED) -> None:
    """Raise Forbidden unless `allowed` (the answer of one of the questions above)."""
    if not allowed:
        raise Forbidden(refusal)


def require_organization(actor: Actor, organization_id: int) -> None:
    require(
        manages_organization(actor, organization_id),
        "You can only manage your own organization and those below it.",
    )


async def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The acting user of this request, resolved once: by the router's `resolve_actor` (the
    bearer token for the API, the session for pages), then kept on the connection."""
    known = connection.scope.get("state", {}).get("coordinator_actor")
    if known is None:
        resolve: ActorResolver = connection.route_handler.opt["resolve_actor"]
        known = await resolve(connection)
        connection.scope.setdefault("state", {})["coordinator_actor"] = known
    actor: Actor = known
    return actor


def guard(question: Question, refusal: str = REFUSED) -> Callable[..., Awaitable[None]]:
    """A Litestar guard that refuses unless `question(actor)` holds; the same guard serves the
    API router and the page router."""

    async def check(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        require(question(await actor_of(connection)), refusal)

    check.__name__ = f"requires_{question.__name__}"
    return check


@dataclass(frozen=True)
class Rights:
    """What pages and templates may ask about the actor (`can.<right>` in templates)."""

    counts_only: bool
    sees_names: bool
    administers: bool
    runs_campaigns: bool
    manages_people: bool
    sees_organizations: bool
    subtree: frozenset[int]
    drafts_agreements: bool = False
    organization_id: int = 0
    coordinates: bool = False
    reminds_organizations: bool = False

    def manages(self, organization_id: int) -> bool:
        return self.administers or (self.manages_people and organization_id in self.subtree)

    def sees_members(self, organization_id: int) -> bool:
        """`sees_members_of` for templates."""
        return self.administers or (self.sees_names and organization_id in self.subtree)

    def drafts_agreement_for(self, lead_organization_id: int) -> bool:
        """`drafts_agreement_for` for templates."""
        return self.administers or (
            self.coordinates and lead_organization_id == self.organization_id
        )

    def names_focal_points(self, organization_id: int) -> bool:
        """`names_focal_points` for templates."""
        return self.manages(organization_id)

    def sets_task_cap_for(self, organization_id: int) -> bool:
        """`sets_task_cap_for` for templates."""
        return self.manages(organization_id)

    def registers_channels_for(self, organization_id: int) -> bool:
        """`registers_channels_for` for templates."""
        return self.manages(organization_id) or (
            self.coordinates and organization_id in self.subtree
        )


def rights(actor: Actor) -> Rights:
    return Rights(
        counts_only=counts_only(actor),
        sees_names=sees_names(actor),
        administers=administers(actor),
        runs_campaigns=runs_campaigns(actor),
        manages_people=manages_people(actor),
        sees_organizations=sees_organizations(actor),
        subtree=actor.subtree,
        drafts_agreements=drafts_agreements(actor),
        organization_id=actor.organization_id,
        coordinates=coordinates(actor),
        reminds_organizations=reminds_organizations(actor),
    )
