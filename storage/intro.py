"""Newcomers' introductions (自我介绍) and the topics of the day (话题).

An introduction is one row per member (a member is already per community), inserted with
``ON CONFLICT DO NOTHING``: the first message that qualifies wins, a redelivery or a second
message at the same moment finds the row and changes nothing. Only where the message is
(chat, channel, message id) is kept, never its text.

A topic is a row per ``/topic set``; a member's participation is one row per (topic, member).
The topic's ``participants`` counter moves in the same transaction as a new participation row,
by one guarded ``UPDATE ... RETURNING``: its value is the member's position, so "the first N"
is decided by the database (a PostgreSQL row lock orders concurrent ones; SQLite writers are
serial), never by a count read first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.db import Database
from storage.members import Member

__all__ = [
    "HASHTAG_LEN",
    "TOPIC_LEN",
    "IntroRepo",
    "Introduction",
    "IntroductionRow",
    "Joined",
    "Topic",
    "TopicParticipantRow",
    "TopicRow",
]

#: The longest topic text and hashtag (without ``#``), in characters.
TOPIC_LEN = 200
HASHTAG_LEN = 32
_ID_LEN = 64


class IntroductionRow(Base):
    """The message a member introduced themselves with (where it is, not what it says)."""

    __tablename__ = "introductions"
    __table_args__ = (UniqueConstraint("member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    chat_id: Mapped[str] = mapped_column(String(_ID_LEN))
    channel_id: Mapped[str | None] = mapped_column(String(_ID_LEN))
    message_id: Mapped[str] = mapped_column(String(_ID_LEN))
    created_at: Mapped[datetime]


class TopicRow(Base):
    """A discussion topic an operator set, with its hashtag and how many took part."""

    __tablename__ = "topics"
    __table_args__ = (Index("ix_topics_community_created", "community_id", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(TOPIC_LEN))
    #: Normalized (NFKC, casefolded), without ``#``.
    hashtag: Mapped[str] = mapped_column(String(HASHTAG_LEN))
    #: The community's local day it was set on ("today's topic").
    local_date: Mapped[date] = mapped_column(Date)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    participants: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]


class TopicParticipantRow(Base):
    """A member who took part in a topic (once), and their position."""

    __tablename__ = "topic_participants"
    __table_args__ = (UniqueConstraint("topic_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class Introduction:
    """Where a member's introduction is."""

    chat_id: str
    channel_id: str | None
    message_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Joined:
    """A newcomer who has not introduced themselves yet."""

    member_id: int
    name: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic as shown: its text, hashtag, day and participation."""

    id: int
    text: str
    hashtag: str
    local_date: date
    participants: int
    created_at: datetime


def _topic(row: TopicRow) -> Topic:
    return Topic(row.id, row.text, row.hashtag, row.local_date, row.participants, row.created_at)


class IntroRepo:
    """Introductions and topics. Texts and hashtags come checked by the handler; past the
    limits they are refused here with ``ValueError``, never cut."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- introductions ---------------------------------------------------------------------
    async def record(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        chat_id: str,
        channel_id: str | None,
        message_id: str,
        now: datetime,
    ) -> bool:
        """Keep a member's introduction; ``True`` the first time only."""
        table = IntroductionRow.__table__
        inserted = await session.execute(
            self.db.insert(table)
            .values(
                community_id=community_id,
                member_id=member_id,
                chat_id=chat_id[:_ID_LEN],
                channel_id=channel_id[:_ID_LEN] if channel_id else None,
                message_id=message_id[:_ID_LEN],
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["member_id"])
            .returning(table.c.id)
        )
        return inserted.first() is not None

    async def of(self, session: AsyncSession, member_id: int) -> Introduction | None:
        """A member's introduction, if they made one."""
        row = (
            await session.execute(
                select(IntroductionRow).where(IntroductionRow.member_id == member_id)
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        return Introduction(row.chat_id, row.channel_id, row.message_id, row.created_at)

    async def not_introduced(
        self, session: AsyncSession, community_id: int, since: datetime, limit: int
    ) -> list[Joined]:
        """Members who joined at or after ``since``, are still here and have not introduced
        themselves: newest first, at most ``limit`` (bots excluded by the caller's data: the
        bookkeeping does not record bots as members that join)."""
        done = select(IntroductionRow.member_id).where(IntroductionRow.community_id == community_id)
        rows = await session.execute(
            select(Member.id, Member.display_name, Member.joined_at)
            .where(
                Member.community_id == community_id,
                Member.joined_at.is_not(None),
                Member.joined_at >= since,
                Member.left_at.is_(None),
                Member.id.not_in(done),
            )
            .order_by(Member.joined_at.desc(), Member.id.desc())
            .limit(limit)
        )
        return [Joined(int(i), str(n), j) for i, n, j in rows.all()]

    # -- topics ----------------------------------------------------------------------------
    async def set_topic(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        text: str,
        hashtag: str,
        local_date: date,
        set_by: int | None,
        now: datetime,
    ) -> Topic:
        """Store a new topic (the newest set today is today's topic)."""
        if not 0 < len(text) <= TOPIC_LEN:
            raise ValueError(f"a topic has 1 to {TOPIC_LEN} characters")
        if not 0 < len(hashtag) <= HASHTAG_LEN:
            raise ValueError(f"a hashtag has 1 to {HASHTAG_LEN} characters")
        new_id = (
            await session.execute(
                insert(TopicRow)
                .values(
                    community_id=community_id,
                    text=text,
                    hashtag=hashtag,
                    local_date=local_date,
                    set_by=set_by,
                    participants=0,
                    created_at=now,
                )
                .returning(TopicRow.id)
            )
        ).scalar_one()
        return Topic(int(new_id), text, hashtag, local_date, 0, now)

    async def today(self, session: AsyncSession, community_id: int, day: date) -> Topic | None:
        """The newest topic set on the community's local ``day``, if any."""
        row = (
            await session.execute(
                select(TopicRow)
                .where(TopicRow.community_id == community_id, TopicRow.local_date == day)
                .order_by(TopicRow.created_at.desc(), TopicRow.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return _topic(row) if row is not None else None

    async def recent(self, session: AsyncSession, community_id: int, limit: int) -> list[Topic]:
        """The newest topics first, at most ``limit``."""
        rows = await session.execute(
            select(TopicRow)
            .where(TopicRow.community_id == community_id)
            .order_by(TopicRow.created_at.desc(), TopicRow.id.desc())
            .limit(limit)
        )
        return [_topic(row) for row in rows.scalars()]

    async def take_part(
        self, session: AsyncSession, topic_id: int, member_id: int, now: datetime
    ) -> int | None:
        """Count a member in a topic once: their position (1 for the first), or ``None`` if
        they were counted already. The counter moves in one ``UPDATE ... RETURNING`` in the
        same transaction as the row, so positions are unique under concurrency."""
        table = TopicParticipantRow.__table__
        inserted = await session.execute(
            self.db.insert(table)
            .values(topic_id=topic_id, member_id=member_id, position=0, created_at=now)
            .on_conflict_do_nothing(index_elements=["topic_id", "member_id"])
            .returning(table.c.id)
        )
        row_id = inserted.scalar_one_or_none()
        if row_id is None:
            return None
        position = (
            await session.execute(
                update(TopicRow)
                .where(TopicRow.id == topic_id)
                .values(participants=TopicRow.participants + 1)
                .returning(TopicRow.participants)
            )
        ).scalar_one()
        await session.execute(
            update(TopicParticipantRow)
            .where(TopicParticipantRow.id == row_id)
            .values(position=int(position))
        )
        return int(position)
