"""Timed sanctions: the lift a punishment with a duration schedules (a ban of 1d is lifted a
day later, on every platform, after a restart too; Discord bans have no end of their own).

A lift is claimed by one conditional ``UPDATE`` (``pending -> acting``), so two ticks or two
bot processes never both act on it; the tick settles it ``done`` when the platform did it, or
puts it back ``pending`` to try again later. A lift is idempotent on the platform (unbanning
twice is harmless), so one left ``acting`` by a stopped process is claimable again once it
has waited ``ABANDONED_AFTER``. At most one lift per member and kind is pending: scheduling
another moves it, and a moderator lifting by hand (or punishing for good) cancels it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, and_, case, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from storage.base import Base, Id
from storage.communities import DueMember, select_due
from storage.db import Database

__all__ = ["ABANDONED_AFTER", "LiftRepo", "ScheduledLift"]

PENDING, ACTING, DONE, CANCELLED = "pending", "acting", "done", "cancelled"
#: A lift claimed longer ago than this and never settled (its process stopped): taken again.
ABANDONED_AFTER = timedelta(minutes=10)
#: The rows the one-pending-lift index covers.
_PENDING_ONLY = text(f"status = '{PENDING}'")


class ScheduledLift(Base):
    """A timed sanction's end: whom, what is lifted (``unban``), when, and how far it got."""

    __tablename__ = "scheduled_lifts"
    __table_args__ = (
        Index("ix_scheduled_lifts_due", "status", "due_at"),
        # One pending lift per member and kind: a new timed ban moves it instead of adding one.
        Index(
            "uq_scheduled_lifts_pending",
            "community_id",
            "member_id",
            "kind",
            unique=True,
            sqlite_where=_PENDING_ONLY,
            postgresql_where=_PENDING_ONLY,
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    #: pending, acting (claimed by a tick), done, cancelled
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Pending, or claimed by a process that stopped before settling it."""
    return or_(
        ScheduledLift.status == PENDING,
        and_(
            ScheduledLift.status == ACTING,
            ScheduledLift.claimed_at < now - ABANDONED_AFTER,
        ),
    )


class LiftRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def schedule(
        self,
        session: AsyncSession,
        community_id: int,
        member_id: int,
        kind: str,
        now: datetime,
        due_at: datetime,
    ) -> int:
        """Lift the member's ``kind`` sanction at ``due_at``; a pending one is moved there (one
        statement, so two at once leave one). Returns the lift's id."""
        table = ScheduledLift.__table__
        scheduled = await session.execute(
            self.db.insert(table)
            .values(
                community_id=community_id,
                member_id=member_id,
                kind=kind,
                status=PENDING,
                due_at=due_at,
                claimed_at=None,
                created_at=now,
            )
            .on_conflict_do_update(
                index_elements=["community_id", "member_id", "kind"],
                # A literal, as the index says it: PostgreSQL infers the index from it.
                index_where=_PENDING_ONLY,
                set_={"due_at": due_at, "created_at": now},
            )
            .returning(table.c.id)
        )
        return int(scheduled.scalar_one())

    async def due(
        self, session: AsyncSession, kind: str, now: datetime, limit: int = 100
    ) -> list[DueMember]:
        """Lifts of ``kind`` to act on now, earliest first (claim each before acting)."""
        rows = await session.execute(
            select_due(ScheduledLift.id, ScheduledLift.community_id, ScheduledLift.member_id)
            .where(ScheduledLift.kind == kind, ScheduledLift.due_at <= now, _claimable(now))
            .order_by(ScheduledLift.due_at, ScheduledLift.id)
            .limit(limit)
        )
        return [DueMember(*row) for row in rows.all()]

    async def claim(self, session: AsyncSession, lift_id: int, now: datetime) -> bool:
        """``pending -> acting`` in one conditional ``UPDATE``: ``False`` when another tick or
        process has it (or it was cancelled or done meanwhile)."""
        result = await session.execute(
            update(ScheduledLift)
            .where(ScheduledLift.id == lift_id, _claimable(now))
            .values(status=ACTING, claimed_at=now)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def settle(self, session: AsyncSession, lift_id: int, *, done: bool) -> bool:
        """A claimed lift: ``done`` when the platform did it, else ``pending`` again (tried on
        a later tick), unless a newer lift was scheduled meanwhile (a new timed ban): that one
        stands and this one is ``cancelled``. ``False`` if it was not claimed."""
        newer = aliased(ScheduledLift)
        replaced = (
            select(newer.id)
            .where(
                newer.community_id == ScheduledLift.community_id,
                newer.member_id == ScheduledLift.member_id,
                newer.kind == ScheduledLift.kind,
                newer.status == PENDING,
            )
            .exists()
        )
        result = await session.execute(
            update(ScheduledLift)
            .where(ScheduledLift.id == lift_id, ScheduledLift.status == ACTING)
            .values(
                status=DONE if done else case((replaced, CANCELLED), else_=PENDING),
                claimed_at=None,
            )
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def cancel(
        self, session: AsyncSession, community_id: int, member_id: int, kind: str
    ) -> bool:
        """The member's pending ``kind`` lift will not happen (lifted by hand, or replaced by a
        sanction for good); ``False`` when none was pending."""
        result = await session.execute(
            update(ScheduledLift)
            .where(
                ScheduledLift.community_id == community_id,
                ScheduledLift.member_id == member_id,
                ScheduledLift.kind == kind,
                ScheduledLift.status == PENDING,
            )
            .values(status=CANCELLED)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]
