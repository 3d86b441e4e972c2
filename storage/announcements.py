"""Scheduled announcements (定时公告): the schedules themselves.

Each occurrence goes out through the durable outbox (``storage/outbox.py``) as a row with
target ``announcement:<id>``; this table only remembers the rule and ``next_at``, the one
occurrence kept in the outbox. A schedule is *listed* (``/schedules``, ``/unschedule``) while
it runs or while a post of it still waits in the outbox: a one-off held by quiet hours has
finished its schedule but not gone out yet. Moving ``next_at`` on is a conditional update (``WHERE
next_at = :old``), so two processes advancing the same schedule agree on one successor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, UPDATE_KEY_LEN, Base, Id
from storage.db import Database
from storage.outbox import PENDING, SENDING, ScheduledSend

__all__ = [
    "ANNOUNCEMENT_LEN",
    "TARGET_PREFIX",
    "Announcement",
    "AnnouncementInfo",
    "AnnouncementRepo",
    "announcement_of",
    "target_of",
]

#: Column sizes of these tables; text is clipped to them before storage.
ANNOUNCEMENT_LEN = 1500


class Announcement(Base):
    """A scheduled announcement (定时公告): a one-off time or a cron rule in the zone it was
    made in. Each occurrence goes out as a ``scheduled_sends`` row (kind ``announcement``);
    ``next_at`` is the one occurrence kept in the outbox."""

    __tablename__ = "announcements"
    __table_args__ = (
        Index("ix_announcements_due", "active", "next_at"),
        Index("ix_announcements_community", "community_id", "active"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    creator_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(ANNOUNCEMENT_LEN))
    #: The schedule as typed (shown by /schedules).
    spec: Mapped[str] = mapped_column(String(100))
    #: A five-field crontab rule with named weekdays; ``None``: a one-off at ``next_at``.
    cron: Mapped[str | None] = mapped_column(String(100))
    zone: Mapped[str] = mapped_column(String(64))
    #: The occurrence enqueued in the outbox now (UTC); ``None`` once a one-off is handed over.
    next_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: The platform update that created it: a redelivered command creates no second schedule.
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


#: The outbox target of a schedule's posts is ``announcement:<id>``.
TARGET_PREFIX = "announcement:"


def target_of(announcement_id: int) -> str:
    return f"{TARGET_PREFIX}{announcement_id}"


def announcement_of(target: str) -> int | None:
    """The schedule an outbox target belongs to, or ``None`` for another target."""
    number = target.removeprefix(TARGET_PREFIX)
    if number == target or not number.isascii() or not number.isdigit():
        return None
    return int(number)


@dataclass(frozen=True, slots=True)
class AnnouncementInfo:
    id: int
    community_id: int
    channel_id: str | None
    creator_member_id: int
    text: str
    spec: str
    cron: str | None
    zone: str
    next_at: datetime | None
    active: bool
    removed: bool


def _info(row: Announcement) -> AnnouncementInfo:
    return AnnouncementInfo(
        id=row.id,
        community_id=row.community_id,
        channel_id=row.channel_id,
        creator_member_id=row.creator_member_id,
        text=row.text,
        spec=row.spec,
        cron=row.cron,
        zone=row.zone,
        next_at=row.next_at,
        active=row.active,
        removed=row.removed_at is not None,
    )


class AnnouncementRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        channel_id: str | None,
        creator_member_id: int,
        text: str,
        spec: str,
        cron: str | None,
        zone: str,
        next_at: datetime,
        create_key: str,
        now: datetime,
    ) -> int | None:
        """The new schedule's id, or ``None`` if this key (a redelivered command) made it."""
        return await posts.create_once(
            session,
            self.db,
            Announcement,
            "create_key",
            {
                "community_id": community_id,
                "channel_id": channel_id,
                "creator_member_id": creator_member_id,
                "text": text[:ANNOUNCEMENT_LEN],
                "spec": spec[:100],
                "cron": cron,
                "zone": zone,
                "next_at": next_at,
                "active": True,
                "create_key": create_key,
                "created_at": now,
            },
        )

    async def get(self, session: AsyncSession, announcement_id: int) -> AnnouncementInfo | None:
        row = await session.get(Announcement, announcement_id)
        return None if row is None else _info(row)

    async def count_active(self, session: AsyncSession, community_id: int) -> int:
        return (
            await session.execute(
                select(func.count())
                .select_from(Announcement)
                .where(Announcement.community_id == community_id, Announcement.active.is_(True))
            )
        ).scalar_one()

    async def listed(
        self, session: AsyncSession, community_id: int, waiting: set[int]
    ) -> list[AnnouncementInfo]:
        """A community's running schedules and those of ``waiting`` (ids with a post still
        in the outbox) not removed, by id."""
        rows = await session.execute(
            select(Announcement)
            .where(
                Announcement.community_id == community_id,
                Announcement.removed_at.is_(None),
                or_(Announcement.active.is_(True), Announcement.id.in_(sorted(waiting))),
            )
            .order_by(Announcement.id)
        )
        return [_info(row) for row in rows.scalars()]

    async def running(
        self, session: AsyncSession, *, due_by: datetime | None = None, limit: int = 500
    ) -> list[AnnouncementInfo]:
        """Active schedules (only those whose ``next_at`` is at or before ``due_by``)."""
        query = select(Announcement).where(
            Announcement.active.is_(True), Announcement.next_at.is_not(None)
        )
        if due_by is not None:
            query = query.where(Announcement.next_at <= due_by)
        rows = await session.execute(query.order_by(Announcement.next_at).limit(limit))
        return [_info(row) for row in rows.scalars()]

    async def advance(
        self, session: AsyncSession, announcement_id: int, old: datetime, new: datetime | None
    ) -> bool:
        """``next_at: old -> new``; ``None`` ends a schedule with nothing more to send.
        ``False`` when another process moved it first."""
        values: dict[str, object] = {"next_at": new}
        if new is None:
            values["active"] = False
        result = await session.execute(
            update(Announcement)
            .where(
                Announcement.id == announcement_id,
                Announcement.active.is_(True),
                Announcement.next_at == old,
            )
            .values(**values)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def remove(self, session: AsyncSession, announcement_id: int, now: datetime) -> bool:
        """Stop a listed schedule once: running, or a one-off whose post still waits in the
        outbox (``False`` if it was neither, or already removed)."""
        post_waiting = exists().where(
            ScheduledSend.community_id == Announcement.community_id,
            ScheduledSend.target == target_of(announcement_id),
            ScheduledSend.status.in_((PENDING, SENDING)),
        )
        result = await session.execute(
            update(Announcement)
            .where(
                Announcement.id == announcement_id,
                Announcement.removed_at.is_(None),
                or_(Announcement.active.is_(True), post_waiting),
            )
            .values(active=False, removed_at=now)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]
