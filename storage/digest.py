"""What the weekly digest reads besides the insight reports: the communities to look at."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.communities import Community

__all__ = ["active_community_ids"]


async def active_community_ids(session: AsyncSession) -> list[int]:
    """Ids of the communities the bot is still in: each may be due a digest."""
    rows = await session.execute(
        select(Community.id).where(Community.active.is_(True)).order_by(Community.id)
    )
    return [int(i) for i in rows.scalars()]
