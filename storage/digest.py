"""What the weekly digest reads besides the insight reports: the communities to look at."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.communities import Community, CommunityInfo

__all__ = ["active_communities"]


async def active_communities(session: AsyncSession) -> list[CommunityInfo]:
    """The communities the bot is still in, in one query: each may be due a digest."""
    rows = await session.execute(
        select(Community).where(Community.active.is_(True)).order_by(Community.id)
    )
    return [CommunityInfo.of(row) for row in rows.scalars()]
