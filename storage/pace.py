"""Night mode: one row per community saying when its room closes and reopens, whether the bot
closed it, and when to look again.

The row is a small state machine a tick reconciles. ``due_at`` is the next moment the room's
state may have to change (a window's edge, or "now" after the window was set or switched
off). A tick claims a due row by one conditional ``UPDATE`` (``pending -> acting``), so two
ticks or two bot processes never both act on it; it closes or reopens the room when the
window says it should be in the other state, then settles the row (``closed`` as the platform
left it, the next ``due_at``). Closing and reopening are idempotent on the platforms, so a row
left ``acting`` by a stopped process is claimable again once it has waited
``ABANDONED_AFTER``: the room is closed and reopened once per night, after a restart too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, Index, String, and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from storage.base import Base, Id
from storage.communities import Community
from storage.db import Database

__all__ = ["ABANDONED_AFTER", "NightMode", "NightModeRepo", "NightRow"]

PENDING, ACTING, OFF = "pending", "acting", "off"
#: A row claimed longer ago than this and never settled (its process stopped): taken again.
ABANDONED_AFTER = timedelta(minutes=10)


class NightMode(Base):
    """A community's night: its window in community time (``HH:MM``, ``None`` once switched
    off), the channel it applies to (Discord), and how far the bot got."""

    __tablename__ = "night_modes"
    __table_args__ = (Index("ix_night_modes_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), unique=True
    )
    channel_id: Mapped[str | None] = mapped_column(String(64))
    starts: Mapped[str | None] = mapped_column(String(5))
    ends: Mapped[str | None] = mapped_column(String(5))
    #: Whether the bot has closed the room (and must reopen it).
    closed: Mapped[bool] = mapped_column(Boolean)
    #: pending (waiting for ``due_at``), acting (claimed by a tick), off (nothing to do)
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class NightRow:
    """A due row with where it applies."""

    id: int
    community_id: int
    platform: str
    chat_id: str
    channel_id: str | None
    starts: str | None
    ends: str | None
    closed: bool


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Pending, or claimed by a process that stopped before settling it."""
    return or_(
        NightMode.status == PENDING,
        and_(NightMode.status == ACTING, NightMode.claimed_at < now - ABANDONED_AFTER),
    )


class NightModeRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set(
        self,
        session: AsyncSession,
        community_id: int,
        channel_id: str | None,
        window: tuple[str, str] | None,
        now: datetime,
    ) -> None:
        """The community's window (``None``: off), looked at by the next tick (``due_at`` is
        now): one statement, so two at once leave one row."""
        starts, ends = window if window is not None else (None, None)
        table = NightMode.__table__
        values: dict[str, object] = {
            "starts": starts,
            "ends": ends,
            "status": PENDING,
            "due_at": now,
            "claimed_at": None,
            "updated_at": now,
        }
        if channel_id is not None:
            # A closed room is reopened where it was closed, wherever the command came from.
            values["channel_id"] = case(
                (NightMode.closed.is_(True), NightMode.channel_id), else_=channel_id
            )
        await session.execute(
            self.db.insert(table)
            .values(
                {**values, "community_id": community_id, "channel_id": channel_id, "closed": False}
            )
            .on_conflict_do_update(index_elements=["community_id"], set_=values)
        )

    async def window(self, session: AsyncSession, community_id: int) -> tuple[str, str] | None:
        found = (
            await session.execute(
                select(NightMode.starts, NightMode.ends).where(
                    NightMode.community_id == community_id
                )
            )
        ).first()
        if found is None or found[0] is None or found[1] is None:
            return None
        return str(found[0]), str(found[1])

    async def due(
        self,
        session: AsyncSession,
        now: datetime,
        limit: int = 100,
        *,
        community_id: int | None = None,
    ) -> list[NightRow]:
        """Rows to look at now (of one community, or all), earliest first (claim each
        before acting)."""
        query = (
            select(
                NightMode.id,
                Community.id,
                Community.platform,
                Community.chat_id,
                NightMode.channel_id,
                NightMode.starts,
                NightMode.ends,
                NightMode.closed,
            )
            .join(Community, Community.id == NightMode.community_id)
            .where(NightMode.due_at <= now, _claimable(now))
            .order_by(NightMode.due_at, NightMode.id)
            .limit(limit)
        )
        if community_id is not None:
            query = query.where(NightMode.community_id == community_id)
        rows = await session.execute(query)
        return [NightRow(*row) for row in rows.all()]

    async def claim(self, session: AsyncSession, row_id: int, now: datetime) -> bool:
        """``pending -> acting`` in one conditional ``UPDATE``: ``False`` when another tick or
        process has it."""
        result = await session.execute(
            update(NightMode)
            .where(NightMode.id == row_id, NightMode.due_at <= now, _claimable(now))
            .values(status=ACTING, claimed_at=now)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def settle(
        self, session: AsyncSession, row_id: int, *, closed: bool, due_at: datetime | None
    ) -> None:
        """A claimed row after acting: ``closed`` as the platform now has it (always kept);
        looked at again at ``due_at`` (``None``: off). A window set meanwhile left the row
        ``pending`` for now: that stands."""
        await session.execute(update(NightMode).where(NightMode.id == row_id).values(closed=closed))
        await session.execute(
            update(NightMode)
            .where(NightMode.id == row_id, NightMode.status == ACTING)
            .values(
                status=PENDING if due_at is not None else OFF,
                due_at=due_at if due_at is not None else NightMode.due_at,
                claimed_at=None,
            )
        )

    async def release(self, session: AsyncSession, row_id: int, now: datetime) -> None:
        """A claimed row the platform refused: tried again at ``now`` (a later tick)."""
        await session.execute(
            update(NightMode)
            .where(NightMode.id == row_id, NightMode.status == ACTING)
            .values(status=PENDING, due_at=now, claimed_at=None)
        )
