"""Warns and a community's own filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import REASON_LEN, Base, Id
from storage.db import Database
from storage.text import clip

__all__ = [
    "EVIDENCE_LEN",
    "PATTERN_LEN",
    "Filter",
    "FilterInfo",
    "FilterRepo",
    "Warn",
    "WarnInfo",
    "WarnRepo",
]

#: Column sizes of these tables; text is clipped to them before storage.
EVIDENCE_LEN = 300
PATTERN_LEN = 200


class Warn(Base):
    """A warning on a member's record: why, the evidence, and when it stops counting."""

    __tablename__ = "warns"
    __table_args__ = (Index("ix_warns_member_active", "member_id", "revoked_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    given_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(REASON_LEN))
    evidence: Mapped[str | None] = mapped_column(String(EVIDENCE_LEN))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Filter(Base):
    """A banned word or regular expression a community added in chat, with its action."""

    __tablename__ = "filters"
    __table_args__ = (UniqueConstraint("community_id", "kind", "pattern"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str] = mapped_column(String(PATTERN_LEN))
    action: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class WarnInfo:
    id: int
    reason: str
    evidence: str | None
    created_at: datetime
    expires_at: datetime


class WarnRepo:
    def _active(self, member_id: int, now: datetime):  # type: ignore[no-untyped-def]
        return (Warn.member_id == member_id) & Warn.revoked_at.is_(None) & (Warn.expires_at > now)

    async def add(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        given_by: int | None,
        reason: str,
        evidence: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        """Add a warn; returns how many warns now count against the member."""
        session.add(
            Warn(
                community_id=community_id,
                member_id=member_id,
                given_by_member_id=given_by,
                reason=clip(reason, REASON_LEN) or "",
                evidence=clip(evidence, EVIDENCE_LEN),
                created_at=now,
                expires_at=expires_at,
            )
        )
        await session.flush()
        return await self.count(session, member_id, now)

    async def count(self, session: AsyncSession, member_id: int, now: datetime) -> int:
        total = await session.execute(
            select(func.count()).select_from(Warn).where(self._active(member_id, now))
        )
        return int(total.scalar_one())

    async def active(self, session: AsyncSession, member_id: int, now: datetime) -> list[WarnInfo]:
        rows = await session.execute(
            select(Warn).where(self._active(member_id, now)).order_by(Warn.id)
        )
        return [
            WarnInfo(w.id, w.reason, w.evidence, w.created_at, w.expires_at) for w in rows.scalars()
        ]

    async def revoke_last(
        self, session: AsyncSession, member_id: int, now: datetime
    ) -> WarnInfo | None:
        """Take back the newest active warn (``/unwarn``, ``/pardon``)."""
        warns = await self.active(session, member_id, now)
        if not warns:
            return None
        last = warns[-1]
        await session.execute(update(Warn).where(Warn.id == last.id).values(revoked_at=now))
        return last

    async def revoke_all(self, session: AsyncSession, member_id: int, now: datetime) -> int:
        result = await session.execute(
            update(Warn).where(self._active(member_id, now)).values(revoked_at=now)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FilterInfo:
    id: int
    kind: str
    pattern: str
    action: str


class FilterRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        session: AsyncSession,
        community_id: int,
        kind: str,
        pattern: str,
        action: str,
        now: datetime,
    ) -> bool:
        """Add or update a filter; ``False`` when the same one existed (its action is updated)."""
        table = Filter.__table__
        pattern = clip(pattern, PATTERN_LEN) or pattern
        insert = self.db.insert(table).values(
            community_id=community_id, kind=kind, pattern=pattern, action=action, created_at=now
        )
        statement = insert.on_conflict_do_update(
            index_elements=["community_id", "kind", "pattern"],
            set_={"action": insert.excluded.action},
        ).returning(table.c.created_at)
        created = (await session.execute(statement)).scalar_one()
        return created == now

    async def remove(self, session: AsyncSession, community_id: int, pattern: str) -> bool:
        result = await session.execute(
            delete(Filter).where(Filter.community_id == community_id, Filter.pattern == pattern)
        )
        return (result.rowcount or 0) > 0  # type: ignore[attr-defined]

    async def clear(self, session: AsyncSession, community_id: int) -> None:
        """Delete every filter of the community (``/import`` replaces them in its transaction)."""
        await session.execute(delete(Filter).where(Filter.community_id == community_id))

    async def list(self, session: AsyncSession, community_id: int) -> list[FilterInfo]:
        rows = await session.execute(
            select(Filter).where(Filter.community_id == community_id).order_by(Filter.id)
        )
        return [FilterInfo(f.id, f.kind, f.pattern, f.action) for f in rows.scalars()]
