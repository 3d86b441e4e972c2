"""Check-ins: one row per member and local day, claimed by one ``INSERT ... ON CONFLICT DO
NOTHING``; badges, each awarded once by a unique row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Badge, CheckIn

__all__ = ["CheckInRepo", "Claimed"]


@dataclass(frozen=True, slots=True)
class Claimed:
    """The day's check-in: ``new`` is False when it had been done already."""

    new: bool
    streak: int
    points: int
    rank: int


class CheckInRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def streak_before(self, session: AsyncSession, member_id: int, day: date) -> int:
        """The streak that ended yesterday (0 if yesterday was missed)."""
        value = await session.execute(
            select(CheckIn.streak).where(
                CheckIn.member_id == member_id, CheckIn.local_date == day - timedelta(days=1)
            )
        )
        return int(value.scalar_one_or_none() or 0)

    async def claim(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        day: date,
        streak: int,
        points: int,
        now: datetime,
    ) -> Claimed:
        table = CheckIn.__table__
        inserted = (
            await session.execute(
                self.db.insert(table)
                .values(
                    community_id=community_id,
                    member_id=member_id,
                    local_date=day,
                    streak=streak,
                    points=points,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["member_id", "local_date"])
                .returning(table.c.id)
            )
        ).first()
        row = (
            await session.execute(
                select(CheckIn).where(CheckIn.member_id == member_id, CheckIn.local_date == day)
            )
        ).scalar_one()
        rank = await session.execute(
            select(func.count())
            .select_from(CheckIn)
            .where(
                CheckIn.community_id == community_id,
                CheckIn.local_date == day,
                CheckIn.id <= row.id,
            )
        )
        return Claimed(inserted is not None, row.streak, row.points, int(rank.scalar_one()))

    async def count_on(self, session: AsyncSession, community_id: int, day: date) -> int:
        total = await session.execute(
            select(func.count())
            .select_from(CheckIn)
            .where(CheckIn.community_id == community_id, CheckIn.local_date == day)
        )
        return int(total.scalar_one())

    async def award(self, session: AsyncSession, member_id: int, badge: str, now: datetime) -> bool:
        """``True`` the first time only."""
        table = Badge.__table__
        inserted = await session.execute(
            self.db.insert(table)
            .values(member_id=member_id, badge=badge, awarded_at=now)
            .on_conflict_do_nothing(index_elements=["member_id", "badge"])
            .returning(table.c.id)
        )
        return inserted.first() is not None

    async def badges(self, session: AsyncSession, member_id: int) -> list[str]:
        rows = await session.execute(
            select(Badge.badge).where(Badge.member_id == member_id).order_by(Badge.id)
        )
        return list(rows.scalars())
