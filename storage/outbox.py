"""The durable outbox of scheduled messages (birthdays, anniversaries, announcements).

A message is a row unique per (community, target, kind, occurrence): enqueueing is
idempotent. The outbox tick claims due rows, sends, then marks them ``sent``; how a row is
claimed by one caller only, and what happens to a claim a stopped process left behind (marked
``unsure``, never sent again: a greeting may be missing, never doubled), is
``storage/claims.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    and_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import claims, posts
from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.claims import PENDING, SENDING, SENT
from storage.db import Database

__all__ = ["Due", "OutboxRepo", "Scheduled", "ScheduledSend", "Waiting"]


class ScheduledSend(Base):
    """A scheduled message (birthday, anniversary, announcement): unique per (community,
    target, kind, occurrence), so enqueueing twice adds nothing; claimed once by the outbox
    tick, sent through the governor, then marked."""

    __tablename__ = "scheduled_sends"
    __table_args__ = (
        UniqueConstraint("community_id", "target", "kind", "occurrence"),
        Index("ix_scheduled_sends_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: Whom or what it is about: ``chat`` (a chat's birthdays), ``member:<id>``, ``announcement:<id>``.
    target: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    #: Which time: a local date, or the UTC instant of a recurring post.
    occurrence: Mapped[str] = mapped_column(String(64))
    #: What the sender needs to write it (member ids, an announcement id), JSON.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: When it was meant to go out; ``due_at`` moves on for quiet hours and the hourly cap.
    scheduled_for: Mapped[datetime]
    due_at: Mapped[datetime]
    #: pending, sending, sent, skipped (too late, or nothing to send), unsure (the bot
    #: stopped between sending and marking: never sent again), failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


SKIPPED, FAILED = "skipped", "failed"


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A message to enqueue."""

    community_id: int
    target: str
    kind: str
    occurrence: str
    due_at: datetime
    payload: dict[str, Any]
    channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed row, with where it goes."""

    id: int
    community_id: int
    platform: str
    chat_id: str
    channel_id: str | None
    target: str
    kind: str
    occurrence: str
    payload: dict[str, Any]
    scheduled_for: datetime
    due_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Waiting:
    """A row not sent yet: when it was meant for, and when it is now due (later when quiet
    hours or the hourly cap held it back)."""

    target: str
    scheduled_for: datetime
    due_at: datetime


class OutboxRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self, session: AsyncSession, rows: list[Scheduled], now: datetime, *, refresh: bool = False
    ) -> int:
        """Add rows not there yet (by their unique key); with ``refresh`` a row still
        ``pending`` also takes the new payload (a birthday set after the day's row was made).
        How many rows were written (added or refreshed)."""
        if not rows:
            return 0
        table = ScheduledSend.__table__
        statement = self.db.insert(table)
        if refresh:
            statement = statement.on_conflict_do_update(
                index_elements=["community_id", "target", "kind", "occurrence"],
                set_={"payload": statement.excluded.payload},
                where=table.c.status == PENDING,
            )
        else:
            statement = statement.on_conflict_do_nothing(
                index_elements=["community_id", "target", "kind", "occurrence"]
            )
        written = await session.execute(
            statement.returning(table.c.id),
            [
                {
                    "community_id": row.community_id,
                    "channel_id": row.channel_id,
                    "target": row.target,
                    "kind": row.kind,
                    "occurrence": row.occurrence,
                    "payload": row.payload,
                    "scheduled_for": row.due_at,
                    "due_at": row.due_at,
                    "status": PENDING,
                    "attempts": 0,
                    "created_at": now,
                }
                for row in rows
            ],
        )
        return len(written.all())

    async def claim(self, session: AsyncSession, now: datetime, limit: int = 50) -> list[Due]:
        """Take due rows for sending: each row goes to one caller."""
        ids = await claims.claim_due(
            session,
            self.db,
            ScheduledSend,
            now,
            limit=limit,
            also={"attempts": ScheduledSend.attempts + 1},
        )
        if not ids:
            return []
        rows = await session.execute(
            posts.placed(ScheduledSend)
            .where(ScheduledSend.id.in_(ids))
            .order_by(ScheduledSend.due_at, ScheduledSend.id)
        )
        return [
            Due(
                **posts.placement(row, platform, chat_id),
                target=row.target,
                kind=row.kind,
                occurrence=row.occurrence,
                payload=dict(row.payload or {}),
                scheduled_for=row.scheduled_for,
                due_at=row.due_at,
                attempts=row.attempts,
            )
            for row, platform, chat_id in rows.all()
        ]

    async def finish(self, session: AsyncSession, row_id: int, status: str, now: datetime) -> None:
        """``sending -> status`` (sent, skipped, failed)."""
        values: dict[str, Any] = {"status": status}
        if status == SENT:
            values["sent_at"] = now
        await session.execute(
            update(ScheduledSend)
            .where(ScheduledSend.id == row_id, ScheduledSend.status == SENDING)
            .values(**values)
        )

    async def defer(self, session: AsyncSession, row_id: int, until: datetime) -> None:
        """``sending -> pending`` at a later time (quiet hours, the hourly cap, a retry)."""
        await session.execute(
            update(ScheduledSend)
            .where(ScheduledSend.id == row_id, ScheduledSend.status == SENDING)
            .values(status=PENDING, due_at=until)
        )

    async def abandon_stale(self, session: AsyncSession, claimed_before: datetime) -> int:
        """Rows left ``sending`` by a stopped process: ``unsure``, never sent again."""
        return await claims.abandon_stale(session, ScheduledSend, claimed_before)

    async def sent_since(
        self, session: AsyncSession, community_id: int, channel_id: str | None, since: datetime
    ) -> list[datetime]:
        """When this chat's scheduled posts went out since ``since`` (the hourly cap)."""
        rows = await session.execute(
            select(ScheduledSend.sent_at)
            .where(
                and_(
                    ScheduledSend.community_id == community_id,
                    ScheduledSend.channel_id.is_(None)
                    if channel_id is None
                    else ScheduledSend.channel_id == channel_id,
                    ScheduledSend.status == SENT,
                    ScheduledSend.sent_at >= since,
                )
            )
            .order_by(ScheduledSend.sent_at)
        )
        return [value for value in rows.scalars() if value is not None]

    async def waiting(
        self, session: AsyncSession, community_id: int, target_prefix: str
    ) -> list[Waiting]:
        """Rows of a community still to go out (pending, or being sent right now) whose
        target starts with ``target_prefix``, soonest first: what ``/schedules`` shows."""
        rows = await session.execute(
            select(ScheduledSend.target, ScheduledSend.scheduled_for, ScheduledSend.due_at)
            .where(
                ScheduledSend.community_id == community_id,
                ScheduledSend.status.in_((PENDING, SENDING)),
                ScheduledSend.target.startswith(target_prefix, autoescape=True),
            )
            .order_by(ScheduledSend.due_at, ScheduledSend.id)
        )
        return [Waiting(str(t), s, d) for t, s, d in rows.all()]

    async def cancel(self, session: AsyncSession, community_id: int, target: str) -> int:
        """Drop the pending rows of ``target`` (an announcement removed)."""
        result = await session.execute(
            update(ScheduledSend)
            .where(
                ScheduledSend.community_id == community_id,
                ScheduledSend.target == target,
                ScheduledSend.status == PENDING,
            )
            .values(status=SKIPPED)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]
