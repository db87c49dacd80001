"""Tables of the organization slice."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from coordinator.base import UTCDateTime, utcnow


def _fk(
    target: str, *, nullable: bool = False, cascade: bool = False, index: bool = True
) -> Column:
    return Column(
        Integer,
        ForeignKey(target, ondelete="CASCADE" if cascade else None),
        nullable=nullable,
        index=index,
    )


class Organization(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("weekly_task_cap IS NULL OR weekly_task_cap >= 1", name="weekly_task_cap"),
    )
    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(default=None, sa_column=_fk("organization.id", nullable=True))
    name: str = Field(max_length=200)
    kind: str = Field(max_length=40, default="union")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Fair load: at most this many tasks per member per ISO week (None: only the deployment's
    # cap, if any, applies; the smaller of the two wins).
    weekly_task_cap: int | None = None


class Club(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(sa_column=_fk("organization.id"))
    name: str = Field(max_length=200)


UNREACHABLE = "unreachable_at IS NOT NULL"


class Member(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("organization_id", "code"),
        # Few members are unreachable: the status page counts the ones a launch skipped
        # through this index instead of over every targeted member.
        Index(
            "ix_member_unreachable",
            "organization_id",
            sqlite_where=text(UNREACHABLE),
            postgresql_where=text(UNREACHABLE),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(sa_column=_fk("organization.id"))
    display_name: str = Field(max_length=200)
    code: str | None = Field(default=None, max_length=64)
    telegram_user_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, unique=True, nullable=True)
    )
    locale: str = Field(default="vi", max_length=5)
    opted_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MemberClub(SQLModel, table=True):
    __tablename__ = "member_club"
    member_id: int = Field(
        sa_column=Column(Integer, ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    club_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("club.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class Invite(SQLModel, table=True):
    """A single-use link: `member` links a Telegram account, `group` registers a group chat."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=10)
    member_id: int | None = Field(default=None, sa_column=_fk("member.id", nullable=True))
    organization_id: int = Field(sa_column=_fk("organization.id"))
    club_id: int | None = Field(default=None, sa_column=_fk("club.id", nullable=True))
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class GroupChat(SQLModel, table=True):
    __tablename__ = "group_chat"
    id: int | None = Field(default=None, primary_key=True)
    telegram_chat_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    title: str = Field(max_length=255, default="")
    organization_id: int = Field(sa_column=_fk("organization.id"))
    club_id: int | None = Field(default=None, sa_column=_fk("club.id", nullable=True))
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Agreement(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    lead_organization_id: int = Field(sa_column=_fk("organization.id"))
    signed_on: date
    valid_from: date
    valid_until: date
    document_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AgreementParty(SQLModel, table=True):
    __tablename__ = "agreement_party"
    agreement_id: int = Field(
        sa_column=Column(Integer, ForeignKey("agreement.id", ondelete="CASCADE"), primary_key=True)
    )
    organization_id: int = Field(
        sa_column=Column(Integer, ForeignKey("organization.id"), primary_key=True, index=True)
    )


class FocalPoint(SQLModel, table=True):
    """A user of an organization (usually a lead) who receives the campaigns handed to it.
    Per organization, not per agreement party: the cascade hands campaigns down to
    sub-organizations, which are not parties, and an organization's leads are the same
    under every agreement."""

    __tablename__ = "focal_point"
    organization_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Channel(SQLModel, table=True):
    """An official page or account that an organization runs on a social network."""

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(sa_column=_fk("organization.id"))
    platform: str = Field(max_length=20)
    url: str = Field(max_length=500, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=200)
