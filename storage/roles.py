"""Bot-level roles granted in chat. Grant and revoke are single statements, so they are idempotent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.db import Database
from storage.members import Member, MemberInfo

__all__ = ["MemberRole", "RoleRepo"]


class MemberRole(Base):
    """A bot-level role granted in chat (moderator, planner, analyst, expert)."""

    __tablename__ = "member_roles"
    __table_args__ = (UniqueConstraint("member_id", "role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    granted_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime]


class RoleRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def grant(
        self,
        session: AsyncSession,
        member_id: int,
        role: str,
        granted_by: int | None,
        now: datetime,
    ) -> bool:
        """Grant ``role``; ``False`` when the member already had it."""
        stmt = (
            self.db.insert(MemberRole.__table__)
            .values(member_id=member_id, role=role, granted_by_member_id=granted_by, granted_at=now)
            .on_conflict_do_nothing(index_elements=["member_id", "role"])
            .returning(MemberRole.__table__.c.id)
        )
        return (await session.execute(stmt)).first() is not None

    async def revoke(self, session: AsyncSession, member_id: int, role: str) -> bool:
        """Revoke ``role``; ``False`` when the member did not have it."""
        result = await session.execute(
            delete(MemberRole).where(MemberRole.member_id == member_id, MemberRole.role == role)
        )
        return (result.rowcount or 0) > 0  # type: ignore[attr-defined]

    async def of_member(self, session: AsyncSession, member_id: int) -> set[str]:
        rows = await session.execute(
            select(MemberRole.role).where(MemberRole.member_id == member_id)
        )
        return set(rows.scalars())

    async def in_community(
        self, session: AsyncSession, community_id: int
    ) -> list[tuple[MemberInfo, str]]:
        """Every granted role in the community, by role then member name."""
        rows = await session.execute(
            select(Member, MemberRole.role)
            .join(MemberRole, MemberRole.member_id == Member.id)
            .where(Member.community_id == community_id)
            .order_by(MemberRole.role, Member.display_name)
        )
        return [(MemberInfo.of(member), role) for member, role in rows.all()]
