"""Scheduled announcements (定时公告): the schedules themselves.

Each occurrence goes out through the durable outbox (``storage/outbox.py``) as a row with
target ``announcement:<id>``; this table only remembers the rule and ``next_at``, the one
occurrence kept in the outbox. Moving ``next_at`` on is a conditional update (``WHERE
next_at = :old``), so two processes advancing the same schedule agree on one successor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import ANNOUNCEMENT_LEN, Announcement

__all__ = ["AnnouncementInfo", "AnnouncementRepo"]


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
        table = Announcement.__table__
        inserted = await self.db.insert_once(
            session,
            table,
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
        return inserted

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

    async def active(self, session: AsyncSession, community_id: int) -> list[AnnouncementInfo]:
        """A community's running schedules, soonest first."""
        rows = await session.execute(
            select(Announcement)
            .where(Announcement.community_id == community_id, Announcement.active.is_(True))
            .order_by(Announcement.next_at, Announcement.id)
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
        """Stop a running schedule once (``False`` if it was not running)."""
        result = await session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id, Announcement.active.is_(True))
            .values(active=False, removed_at=now)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]
