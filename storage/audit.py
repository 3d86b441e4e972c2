"""The audit log: every operator-visible change is written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id

__all__ = ["AuditEntry", "AuditRepo"]


class AuditEntry(Base):
    """Who changed what, for operators to review."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_community_created", "community_id", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    actor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    target_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class AuditRepo:
    async def add(
        self,
        session: AsyncSession,
        *,
        community_id: int | None,
        actor_member_id: int | None,
        action: str,
        now: datetime,
        target_member_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            AuditEntry(
                community_id=community_id,
                actor_member_id=actor_member_id,
                target_member_id=target_member_id,
                action=action,
                detail=detail or {},
                created_at=now,
            )
        )
        await session.flush()

    async def count_since(
        self,
        session: AsyncSession,
        community_id: int,
        actor_member_id: int,
        action: str,
        since: datetime,
    ) -> int:
        from sqlalchemy import func

        total = await session.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.community_id == community_id,
                AuditEntry.actor_member_id == actor_member_id,
                AuditEntry.action == action,
                AuditEntry.created_at >= since,
            )
        )
        return int(total.scalar_one())

    async def recent(
        self, session: AsyncSession, community_id: int, limit: int = 20
    ) -> list[AuditEntry]:
        rows = await session.execute(
            select(AuditEntry)
            .where(AuditEntry.community_id == community_id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
        return list(rows.scalars())
