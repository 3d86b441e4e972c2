"""Entry-gate challenges: opened on join, passed by the newcomer, failed by the clock.

Passing and failing are conditional updates (``WHERE status = 'pending'``), so a press that
races the timeout tick resolves exactly once: either the newcomer is let in or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    case,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.communities import Community, DueMember, select_due
from storage.db import Database
from storage.members import Member

__all__ = ["CodeInfo", "DueChallenge", "GateChallenge", "GateRepo", "InviteCode", "InviteRepo"]


class GateChallenge(Base):
    """A newcomer's captcha (or a join request) waiting for an answer, durable so a timeout
    still removes them after a restart. One row per (community, member, kind), reused."""

    __tablename__ = "gate_challenges"
    __table_args__ = (
        UniqueConstraint("community_id", "member_id", "kind"),
        Index("ix_gate_challenges_due", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class InviteCode(Base):
    """A code operators hand out; entering it lets a member in (``invite_code`` gate)."""

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    #: ``None``: any number of uses.
    uses_left: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


PENDING, ACTING, PASSED, FAILED = "pending", "acting", "passed", "failed"
#: A captcha question stands for its challenge row (``storage.posts``): passing deletes it.
POSTED = posts.register("gate", GateChallenge)


@dataclass(frozen=True, slots=True)
class DueChallenge(DueMember):
    """An expired challenge, with its question's message (deleted after the timeout)."""

    message_id: str | None


class GateRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(
        self,
        session: AsyncSession,
        community_id: int,
        member_id: int,
        kind: str,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        """Open (or open again) the member's challenge of ``kind``; returns its row's id."""
        table = GateChallenge.__table__
        insert = self.db.insert(table).values(
            community_id=community_id,
            member_id=member_id,
            kind=kind,
            status=PENDING,
            message_id=None,
            created_at=now,
            expires_at=expires_at,
        )
        opened = await session.execute(
            insert.on_conflict_do_update(
                index_elements=["community_id", "member_id", "kind"],
                set_={
                    "status": PENDING,
                    "message_id": None,
                    "created_at": now,
                    "expires_at": expires_at,
                },
            ).returning(table.c.id)
        )
        return int(opened.scalar_one())

    async def resolve(
        self, session: AsyncSession, community_id: int, member_id: int, kind: str, outcome: str
    ) -> str | None:
        """Pending -> ``outcome`` exactly once; returns the challenge's message id, or ``None``
        when it was not pending (already passed, failed, or never opened)."""
        result = await session.execute(
            update(GateChallenge)
            .where(
                GateChallenge.community_id == community_id,
                GateChallenge.member_id == member_id,
                GateChallenge.kind == kind,
                GateChallenge.status == PENDING,
            )
            .values(status=outcome)
            .returning(GateChallenge.message_id)
        )
        row = result.first()
        return None if row is None else (row[0] or "")

    async def due(
        self, session: AsyncSession, kind: str, now: datetime, limit: int = 100
    ) -> list[DueChallenge]:
        rows = await session.execute(
            select_due(
                GateChallenge.id,
                GateChallenge.community_id,
                GateChallenge.member_id,
                GateChallenge.message_id,
            )
            .where(
                GateChallenge.kind == kind,
                GateChallenge.status == PENDING,
                GateChallenge.expires_at <= now,
            )
            .order_by(GateChallenge.expires_at)
            .limit(limit)
        )
        return [DueChallenge(*row) for row in rows.all()]

    async def transition(
        self, session: AsyncSession, challenge_id: int, from_status: str, to_status: str
    ) -> bool:
        """Move a challenge on, exactly once: ``False`` if it was not in ``from_status``."""
        result = await session.execute(
            update(GateChallenge)
            .where(GateChallenge.id == challenge_id, GateChallenge.status == from_status)
            .values(status=to_status)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def claim(self, session: AsyncSession, challenge_id: int) -> bool:
        """Claim an expired challenge for its timeout (``pending -> acting``); ``False`` if a
        press, another tick or another process got there first."""
        return await self.transition(session, challenge_id, PENDING, ACTING)

    async def settle_timeout(self, session: AsyncSession, challenge_id: int, done: bool) -> bool:
        """A claimed timeout: ``failed`` once the platform removed or declined the newcomer,
        else ``pending`` again for the next tick."""
        return await self.transition(session, challenge_id, ACTING, FAILED if done else PENDING)


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    uses_left: int | None
    expires_at: datetime | None


class InviteRepo:
    """Invite codes. Using one is a single guarded update, so N uses stay N under any load."""

    async def create(
        self,
        session: AsyncSession,
        community_id: int,
        code: str,
        uses: int | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        session.add(
            InviteCode(
                community_id=community_id,
                code=code,
                uses_left=uses,
                expires_at=expires_at,
                revoked=False,
                created_at=now,
            )
        )
        await session.flush()

    async def active(
        self, session: AsyncSession, community_id: int, now: datetime
    ) -> list[CodeInfo]:
        rows = await session.execute(
            select(InviteCode)
            .where(
                InviteCode.community_id == community_id,
                InviteCode.revoked.is_(False),
                (InviteCode.expires_at.is_(None)) | (InviteCode.expires_at > now),
                (InviteCode.uses_left.is_(None)) | (InviteCode.uses_left > 0),
            )
            .order_by(InviteCode.id)
        )
        return [CodeInfo(c.code, c.uses_left, c.expires_at) for c in rows.scalars()]

    async def revoke(self, session: AsyncSession, community_id: int, code: str) -> bool:
        result = await session.execute(
            update(InviteCode)
            .where(InviteCode.community_id == community_id, InviteCode.code == code)
            .values(revoked=True)
        )
        return (result.rowcount or 0) > 0  # type: ignore[attr-defined]

    async def use(self, session: AsyncSession, community_id: int, code: str, now: datetime) -> bool:
        """Spend one use of a valid code of this community; ``False`` if it is not valid."""
        result = await session.execute(
            update(InviteCode)
            .where(
                InviteCode.community_id == community_id,
                InviteCode.code == code,
                InviteCode.revoked.is_(False),
                (InviteCode.expires_at.is_(None)) | (InviteCode.expires_at > now),
                (InviteCode.uses_left.is_(None)) | (InviteCode.uses_left > 0),
            )
            .values(
                uses_left=case(
                    (InviteCode.uses_left.is_(None), None), else_=InviteCode.uses_left - 1
                )
            )
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def pending_for(
        self, session: AsyncSession, platform: str, user_id: str, kind: str, now: datetime
    ) -> list[tuple[int, str, int]]:
        """(community id, chat id, member id) where this user waits on a ``kind`` challenge."""
        rows = await session.execute(
            select(Community.id, Community.chat_id, Member.id)
            .join(Member, Member.community_id == Community.id)
            .join(GateChallenge, GateChallenge.member_id == Member.id)
            .where(
                Community.platform == platform,
                Member.platform_user_id == user_id,
                GateChallenge.kind == kind,
                GateChallenge.status == PENDING,
                GateChallenge.expires_at > now,
            )
        )
        return [(int(c), str(chat), int(m)) for c, chat, m in rows.all()]
