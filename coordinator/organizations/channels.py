"""Official channels: registering them, and which one a content URL is on, by each platform's
own URL forms.

A channel names an account or page (`facebook.com/tinhdoan`, `youtube.com/@tinhdoan`); a whole
platform (`https://www.facebook.com/`) is refused, else every URL of that platform would pass.
A post URL usually contains its channel (`facebook.com/tinhdoan/posts/1`); some forms do not
(`youtube.com/watch?v=`, `youtu.be/`, `/shorts/`, `fb.watch/`, short links). Those cannot be
proven offline: the coordinator picks the registered channel and the caller records that the
coordinator confirmed the ownership. Hosts are compared exactly (ignoring `www.`, `m.`), so
lookalikes such as `facebook.com.evil.example` or `faceb00k.com` never match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from coordinator.auth import policy
from coordinator.auth.audit import audit
from coordinator.auth.scope import Actor
from coordinator.db import Database
from coordinator.errors import Invalid, field_error
from coordinator.organizations.models import AgreementParty, Channel, Organization
from coordinator.organizations.tree import subtree_ids
from coordinator.pagination import Page, paginate

PLATFORMS = ("facebook", "zalo", "youtube", "tiktok", "telegram", "website", "other")
# How each platform is named on screens (message ids: "Website" and "Other" are translated).
PLATFORM_LABELS = {
    "facebook": "Facebook",
    "zalo": "Zalo",
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "telegram": "Telegram",
    "website": "Website",
    "other": "Other platform",
}
# Each platform's hosts, after dropping the prefixes below; subdomains of them count too.
FAMILIES = {
    "facebook": ("facebook.com", "fb.com", "fb.watch", "fb.me", "fb.gg"),
    "youtube": ("youtube.com", "youtu.be", "youtube-nocookie.com"),
    "tiktok": ("tiktok.com",),
    "zalo": ("zalo.me",),
    "telegram": ("t.me", "telegram.me"),
    "x": ("x.com", "twitter.com"),
    "instagram": ("instagram.com", "instagr.am"),
}
HOST_PREFIXES = ("www.", "m.", "mobile.", "web.", "mbasic.")
# Hosts whose every path is a redirect or a video id, never an account.
SHORT_HOSTS = {
    "youtu.be", "fb.watch", "fb.me", "fb.gg", "vm.tiktok.com", "vt.tiktok.com", "bit.ly",
    "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly",
    "shorturl.at", "s.id", "instagr.am",
}  # fmt: skip
# First path segments that are a feature of the platform, not an account or page.
OPAQUE_SEGMENTS = {
    "facebook": {
        "watch", "share", "reel", "reels", "story.php", "permalink.php", "photo.php", "photo",
        "video.php", "videos", "sharer.php", "sharer", "l.php", "events", "hashtag", "login",
        "home.php", "marketplace", "gaming", "stories",
    },
    "youtube": {
        "watch", "shorts", "live", "embed", "playlist", "v", "results", "feed", "clip",
        "hashtag", "redirect",
    },
    "tiktok": {"t", "video", "discover", "tag", "music", "foryou", "explore", "embed"},
    "instagram": {"p", "reel", "reels", "tv", "stories", "explore"},
    "x": {"i", "intent", "home", "search", "hashtag", "share"},
    "zalo": {"s", "g"},
    "telegram": {"s", "share", "joinchat"},
}  # fmt: skip

# Message ids (in the catalogs) of each refusal, by reason code.
MESSAGES = {
    "not_a_url": "Not a web address.",
    "channel_not_registered": (
        "The link is not on an official channel of this agreement's parties. "
        "Register the channel first, or use content from a registered channel."
    ),
    "channel_choice_needed": (
        "This link does not show which channel published it (a video, share or short link): "
        "choose the registered channel that published it."
    ),
    "channel_not_candidate": (
        "The chosen channel is not an official channel of this agreement's parties "
        "on the link's platform."
    ),
    "channel_mismatch": "The link is on another official channel than the one chosen.",
    "channel_is_platform": (
        "A channel address must name the page or account, not the whole platform."
    ),
    "channel_is_short_link": (
        "A short or sharing link cannot be registered as a channel: "
        "use the address of the page or account."
    ),
}


@dataclass(frozen=True)
class Address:
    """A URL as the channel rules see it."""

    host: str  # lower case, without www./m./...
    family: str | None  # a known platform ("facebook", "youtube", ...) or None for a website
    path: tuple[str, ...]  # lower-case segments naming the account, then the rest
    opaque: bool  # the URL does not show its channel (a video id, a share or short link)


@dataclass(frozen=True)
class OnChannel:
    channel: Channel
    confirmed_by_coordinator: bool  # True: the URL does not show it, the coordinator chose it


@dataclass(frozen=True)
class ChooseChannel:
    candidates: list[Channel] = field(default_factory=list)
    code: str = "channel_choice_needed"


@dataclass(frozen=True)
class Refused:
    code: str

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


def _family(host: str) -> str | None:
    for family, domains in FAMILIES.items():
        if any(host == d or host.endswith("." + d) for d in domains):
            return family
    return None


def parse(url: str) -> Address | None:
    """The address of an http(s) URL, or None if it is not one. Never raises."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        scheme = parts.scheme
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in host):
        return None
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix) and len(host) > len(prefix):
            host = host[len(prefix) :]
            break
    family = _family(host)
    path = tuple(s for s in parts.path.lower().split("/") if s)
    if family == "facebook" and path[:1] in (("profile.php",), ("people",)):
        ident = parse_qs(parts.query).get("id", [""])[0] if path[0] == "profile.php" else ""
        path = ("profile.php", ident.lower()) if ident else path  # the id names the account
        return Address(host, family, path, opaque=not ident and path[0] == "profile.php")
    opaque = host in SHORT_HOSTS or (
        family is not None and bool(path) and path[0] in OPAQUE_SEGMENTS.get(family, set())
    )
    return Address(host, family, path, opaque)


def channel_problem(url: str) -> str | None:
    """Why the URL cannot be registered as a channel (a reason code), or None if it can."""
    address = parse(url)
    if address is None:
        return "not_a_url"
    if address.host in SHORT_HOSTS or (address.opaque and address.path):
        return "channel_is_short_link"
    if address.family is not None and not address.path:
        return "channel_is_platform"
    return None


def url_belongs_to(url: str, channel_url: str) -> bool:
    """Same host (ignoring www./m.) and the channel's path is a whole-segment prefix. A channel
    that is a whole platform, or a URL that does not show its channel, never matches."""
    address, channel = parse(url), parse(channel_url)
    if address is None or channel is None or address.opaque:
        return False
    if channel_problem(channel_url) is not None:
        return False
    return address.host == channel.host and address.path[: len(channel.path)] == channel.path


def _same_platform(address: Address, channel: Channel) -> bool:
    own = parse(channel.url)
    if own is None or channel_problem(channel.url) is not None:
        return False
    if address.family is None:  # a generic short link: any party's channel may have made it
        return True
    return own.family == address.family


def resolve(
    url: str, channels: Sequence[Channel], chosen_id: int | None = None
) -> OnChannel | ChooseChannel | Refused:
    """Which of `channels` the URL is on: the matching channel (the most specific), a request
    to choose among the platform's channels when the URL does not show it, or a refusal."""
    address = parse(url)
    if address is None:
        return Refused("not_a_url")
    if not address.opaque:
        matches = [c for c in channels if url_belongs_to(url, c.url)]
        if not matches:
            return Refused("channel_not_registered")
        best = max(matches, key=lambda c: len(parse(c.url).path))  # type: ignore[union-attr]
        if chosen_id is not None and chosen_id not in {c.id for c in matches}:
            return Refused("channel_mismatch")
        return OnChannel(best, confirmed_by_coordinator=False)
    candidates = [c for c in channels if _same_platform(address, c)]
    if not candidates:
        return Refused("channel_not_registered")
    if chosen_id is None:
        return ChooseChannel(sorted(candidates, key=lambda c: c.id or 0))
    chosen = next((c for c in candidates if c.id == chosen_id), None)
    if chosen is None:
        return Refused("channel_not_candidate")
    return OnChannel(chosen, confirmed_by_coordinator=True)


def refusal(code: str, candidates: Sequence[Channel] = ()) -> Invalid:
    """The Invalid a service raises: its detail is a catalog message id, its code the reason;
    a choice to make lists the candidate channels."""
    error = field_error("url", MESSAGES[code])
    if candidates:
        error["candidates"] = [{"id": c.id, "name": c.name, "url": c.url} for c in candidates]
    return Invalid(MESSAGES[code], errors=[error], code=code)


async def channel_for_url(
    session: AsyncSession, agreement_id: int, url: str, chosen_id: int | None = None
) -> OnChannel:
    """The registered channel of a party (or a party's sub-organization) that the URL is on, or
    the one the coordinator chose when the URL does not show it; Invalid with a reason code."""
    parties = await session.scalars(
        select(AgreementParty.organization_id).where(AgreementParty.agreement_id == agreement_id)
    )
    reach = await subtree_ids(session, list(parties.all()))
    channels = (
        await session.scalars(select(Channel).where(col(Channel.organization_id).in_(reach)))
    ).all()
    found = resolve(url, channels, chosen_id)
    if isinstance(found, OnChannel):
        return found
    if isinstance(found, ChooseChannel):
        raise refusal(found.code, found.candidates)
    raise refusal(found.code)


def check_url(url: str, field: str = "url") -> str:
    url = url.strip()
    if parse(url) is None or len(url) > 500:  # parse also refuses what urlsplit cannot read
        raise Invalid("Not a web address.", errors=[field_error(field, "must be an http(s) URL")])
    return url


async def create_channel(
    db: Database, actor: Actor | None, *, organization_id: int, platform: str, url: str, name: str
) -> Channel:
    if actor is not None:
        policy.require(
            policy.registers_channels_for(actor, organization_id), policy.CHANNEL_REFUSED
        )
    url = check_url(url)
    if problem := channel_problem(url):
        raise refusal(problem)
    errors = []
    if platform not in PLATFORMS:
        errors.append(field_error("platform", "one of {choices}", choices=", ".join(PLATFORMS)))
    if not 1 <= len(name.strip()) <= 200:
        errors.append(field_error("name", "1-200 characters"))
    if errors:
        raise Invalid("The channel cannot be registered.", errors=errors)
    async with db.write() as session:
        if await session.get(Organization, organization_id) is None:
            raise Invalid(
                "No such organization.",
                errors=[field_error("organization_id", "no such organization")],
            )
        if await session.scalar(select(Channel.id).where(Channel.url == url)):
            raise Invalid(
                "The channel is registered already.",
                errors=[field_error("url", "already registered")],
            )
        channel = Channel(
            organization_id=organization_id, platform=platform, url=url, name=name.strip()
        )
        session.add(channel)
        await session.flush()
        audit(
            session,
            actor,
            "channel.create",
            "channel",
            channel.id,
            organization_id=organization_id,
            platform=platform,
        )
    return channel


async def list_channels(
    db: Database, actor: Actor, organization_id: int | None, limit: int, offset: int
) -> Page[Channel]:
    stmt = select(Channel).order_by(col(Channel.id))
    if organization_id is not None:
        stmt = stmt.where(Channel.organization_id == organization_id)
    async with db.read() as session:
        return await paginate(session, stmt, limit, offset)
