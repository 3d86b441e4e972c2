"""A community's written rules, numbered from 1. ``replace`` and ``remove`` renumber in one
transaction, so the numbers members see are always 1..N."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.text import clip

__all__ = ["RULE_LEN", "CommunityRule", "RuleRepo"]

#: Column sizes of these tables; text is clipped to them before storage.
RULE_LEN = 500


class CommunityRule(Base):
    """One numbered rule of a community, as operators wrote it (``/setrules``, ``/addrule``)."""

    __tablename__ = "community_rules"
    __table_args__ = (UniqueConstraint("community_id", "position"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(RULE_LEN))
    created_at: Mapped[datetime]


class RuleRepo:
    async def list(self, session: AsyncSession, community_id: int) -> list[str]:
        rows = await session.execute(
            select(CommunityRule.text)
            .where(CommunityRule.community_id == community_id)
            .order_by(CommunityRule.position)
        )
        return list(rows.scalars())

    async def replace(
        self, session: AsyncSession, community_id: int, rules: list[str], now: datetime
    ) -> list[str]:
        await session.execute(
            delete(CommunityRule).where(CommunityRule.community_id == community_id)
        )
        kept = [clip(rule.strip(), RULE_LEN) or "" for rule in rules if rule.strip()]
        session.add_all(
            CommunityRule(community_id=community_id, position=n, text=text, created_at=now)
            for n, text in enumerate(kept, 1)
        )
        await session.flush()
        return kept

    async def add(self, session: AsyncSession, community_id: int, rule: str, now: datetime) -> int:
        """Append a rule; returns its number."""
        current = await self.list(session, community_id)
        await self.replace(session, community_id, [*current, rule], now)
        return len(current) + 1

    async def remove(
        self, session: AsyncSession, community_id: int, number: int, now: datetime
    ) -> str | None:
        """Remove rule ``number`` (1-based); returns its text, or ``None`` if there is none."""
        current = await self.list(session, community_id)
        if not 1 <= number <= len(current):
            return None
        removed = current.pop(number - 1)
        await self.replace(session, community_id, current, now)
        return removed
