"""Check-ins: one row per member and local day, claimed by one ``INSERT ... ON CONFLICT DO
NOTHING``; badges, each awarded once by a unique row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.db import Database
from storage.members import Member

__all__ = ["Badge", "CheckIn", "CheckInRepo", "Claimed"]


class CheckIn(Base):
    """One check-in per member and local day (the community's zone and reset hour)."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("member_id", "local_date"),
        Index("ix_checkins_community_date", "community_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Badge(Base):
    """A badge a member earned once (``streak-7``, ``first-today``...)."""

    __tablename__ = "badges"
    __table_args__ = (UniqueConstraint("member_id", "badge"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    badge: Mapped[str] = mapped_column(String(32))
    awarded_at: Mapped[datetime]


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

    async def lock_member(self, session: AsyncSession, member_id: int) -> None:
        """Serialise one member's check-ins and make-ups, so a make-up and a check-in sent
        together still see each other's row (a PostgreSQL row lock; SQLite's write
        transactions are serial already)."""
        await session.execute(select(Member.id).where(Member.id == member_id).with_for_update())

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

    async def on(self, session: AsyncSession, member_id: int, day: date) -> CheckIn | None:
        """The member's check-in on ``day``, if any."""
        row = await session.execute(
            select(CheckIn).where(CheckIn.member_id == member_id, CheckIn.local_date == day)
        )
        return row.scalar_one_or_none()

    async def restreak(
        self, session: AsyncSession, member_id: int, day: date, *, streak: int, points: int
    ) -> None:
        """Rewrite one row's streak and points: a make-up reconnected the days before it."""
        await session.execute(
            update(CheckIn)
            .where(CheckIn.member_id == member_id, CheckIn.local_date == day)
            .values(streak=streak, points=points)
        )

    async def current_streak(self, session: AsyncSession, member_id: int, today: date) -> int:
        """Today's streak, else yesterday's (today is not over yet), else 0."""
        value = await session.execute(
            select(func.max(CheckIn.streak)).where(
                CheckIn.member_id == member_id,
                CheckIn.local_date.in_([today, today - timedelta(days=1)]),
            )
        )
        return int(value.scalar_one_or_none() or 0)

    async def top_streaks(
        self, session: AsyncSession, community_id: int, today: date, limit: int = 10
    ) -> list[tuple[int, int]]:
        """(member id, current streak), longest first. A streak is alive while its last day is
        today or yesterday; today's row (when there is one) is yesterday's plus one, so the
        larger of the two is the current streak."""
        streak = func.max(CheckIn.streak)
        rows = await session.execute(
            select(CheckIn.member_id, streak)
            .where(
                CheckIn.community_id == community_id,
                CheckIn.local_date.in_([today, today - timedelta(days=1)]),
            )
            .group_by(CheckIn.member_id)
            .order_by(streak.desc(), CheckIn.member_id)
            .limit(limit)
        )
        return [(int(member), int(days)) for member, days in rows.all()]

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

    # -- batches: a burst of check-ins in one chat, a few statements for all of them ----------
    async def lock_members(self, session: AsyncSession, member_ids: list[int]) -> None:
        """``lock_member`` for several, in id order so concurrent batches cannot deadlock."""
        await session.execute(
            select(Member.id).where(Member.id.in_(member_ids)).order_by(Member.id).with_for_update()
        )

    async def streaks_before(
        self, session: AsyncSession, member_ids: list[int], day: date
    ) -> dict[int, int]:
        """``streak_before`` for several members: their streaks that ended yesterday."""
        rows = await session.execute(
            select(CheckIn.member_id, CheckIn.streak).where(
                CheckIn.member_id.in_(member_ids), CheckIn.local_date == day - timedelta(days=1)
            )
        )
        return {int(member): int(streak) for member, streak in rows.all()}

    async def claim_many(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        day: date,
        wanted: dict[int, tuple[int, int]],
        now: datetime,
    ) -> dict[int, Claimed]:
        """``claim`` for several members at once: ``wanted`` maps member id to (streak,
        points). One multi-row ``INSERT ... ON CONFLICT DO NOTHING``; ranks follow row ids,
        as ``claim`` counts them."""
        table = CheckIn.__table__
        inserted = await session.execute(
            self.db.insert(table)
            .on_conflict_do_nothing(index_elements=["member_id", "local_date"])
            .returning(table.c.member_id),
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "local_date": day,
                    "streak": streak,
                    "points": points,
                    "created_at": now,
                }
                for member_id, (streak, points) in wanted.items()
            ],
        )
        new = {int(member) for member in inserted.scalars()}
        rows = (
            await session.execute(
                select(CheckIn.id, CheckIn.member_id, CheckIn.streak, CheckIn.points).where(
                    CheckIn.member_id.in_(list(wanted)), CheckIn.local_date == day
                )
            )
        ).all()
        fresh = [int(row.id) for row in rows if int(row.member_id) in new]
        if not fresh:
            return {int(r.member_id): Claimed(False, int(r.streak), int(r.points), 0) for r in rows}
        lowest = min(fresh)
        before = await session.execute(
            select(func.count())
            .select_from(CheckIn)
            .where(
                CheckIn.community_id == community_id,
                CheckIn.local_date == day,
                CheckIn.id < lowest,
            )
        )
        # Every row today from the lowest of ours up: ours, and any another process wrote.
        ids = (
            await session.execute(
                select(CheckIn.id)
                .where(
                    CheckIn.community_id == community_id,
                    CheckIn.local_date == day,
                    CheckIn.id >= lowest,
                )
                .order_by(CheckIn.id)
            )
        ).scalars()
        rank = {int(row_id): n for n, row_id in enumerate(ids, int(before.scalar_one()) + 1)}
        return {
            int(row.member_id): Claimed(
                int(row.member_id) in new,
                int(row.streak),
                int(row.points),
                rank.get(int(row.id), 0),
            )
            for row in rows
        }

    async def award_many(
        self, session: AsyncSession, awards: list[tuple[int, str]], now: datetime
    ) -> set[tuple[int, str]]:
        """``award`` for several (member id, badge) pairs; the pairs that are new."""
        if not awards:
            return set()
        table = Badge.__table__
        inserted = await session.execute(
            self.db.insert(table)
            .on_conflict_do_nothing(index_elements=["member_id", "badge"])
            .returning(table.c.member_id, table.c.badge),
            [{"member_id": m, "badge": b, "awarded_at": now} for m, b in awards],
        )
        return {(int(member), str(badge)) for member, badge in inserted.all()}
