"""The tally summary: task counts per campaign x organization x club, kept by database triggers
(alembic revision 0010) in the same transaction as the rows they count."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

ORGANIZATION_LINE = 0  # club_id of the line that counts each task of an organization once


def _count() -> Column[int]:
    return Column(Integer, nullable=False, server_default="0", default=0)


class TallySummary(SQLModel, table=True):
    """One line per campaign, recipient's organization and club (`ORGANIZATION_LINE`: each task
    once; a club's line: the tasks of its members or group chats, so a member in two clubs
    counts in both). Counts per status, and of tasks whose recipient is unreachable."""

    __tablename__ = "tally_summary"
    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    )
    organization_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    club_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    pending: int = Field(default=0, sa_column=_count())
    delivered: int = Field(default=0, sa_column=_count())
    acknowledged: int = Field(default=0, sa_column=_count())
    done: int = Field(default=0, sa_column=_count())
    declined: int = Field(default=0, sa_column=_count())
    expired: int = Field(default=0, sa_column=_count())
    unreachable: int = Field(default=0, sa_column=_count())


class MemberTally(SQLModel, table=True):
    """Active (not deactivated) members per organization, kept by triggers on `member`."""

    __tablename__ = "member_tally"
    organization_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    active: int = Field(default=0, sa_column=_count())
