"""Calls for submissions (征集): one submission per member, editable while the call is open;
then a poll; then the reward, held in the community's ``pool`` account, goes to the winner.

Each stage is a conditional status change (``open -> voting -> done``, or ``void``) in the
transaction that does its work, so a restart or a second process never opens two polls or
pays twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, REASON_LEN, UPDATE_KEY_LEN, Base, Id
from storage.db import Database
from storage.members import Member
from storage.points import Escrow
from storage.polls import POLL_OPTION_LEN, waiting_on_closed_polls

__all__ = ["POOL", "Entry", "Solicitation", "SolicitationInfo", "SolicitationRepo", "Submission"]


class Solicitation(Base):
    """A call for submissions (征集): members submit until ``closes_at``, then the submissions
    become a poll; its winner gets the reward held in the community pool."""

    __tablename__ = "solicitations"
    __table_args__ = (Index("ix_solicitations_due", "status", "closes_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    organiser_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(REASON_LEN))
    #: Points moved from the organiser to the pool when the call opened (0 = none).
    reward: Mapped[int] = mapped_column(BigInteger, default=0)
    #: open (taking submissions), voting (its poll is open), done, or void (nothing to vote on)
    status: Mapped[str] = mapped_column(String(16), default="open")
    closes_at: Mapped[datetime]
    poll_id: Mapped[int | None] = mapped_column(ForeignKey("polls.id", ondelete="SET NULL"))
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class Submission(Base):
    """One member's entry to a call for submissions; editable until the call closes."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("solicitation_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    solicitation_id: Mapped[int] = mapped_column(ForeignKey("solicitations.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(POLL_OPTION_LEN))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


#: The ledger account rewards wait in between a call's opening and its winner.
POOL = Escrow.COLLECT_POOL.value
OPEN, VOTING, DONE, VOID = "open", "voting", "done", "void"
#: A call's opening message stands for its row (``storage.posts``).
POSTED = posts.register("call", Solicitation)


@dataclass(frozen=True, slots=True)
class SolicitationInfo(posts.PlacedInfo):
    posted_kind: ClassVar[str] = POSTED

    organiser_member_id: int
    topic: str
    reward: int
    status: str
    closes_at: datetime
    poll_id: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    member_id: int
    platform_user_id: str
    display_name: str
    text: str


class SolicitationRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        channel_id: str | None,
        organiser_member_id: int,
        topic: str,
        reward: int,
        closes_at: datetime,
        create_key: str,
        now: datetime,
    ) -> int | None:
        """The new call's id, or ``None`` if this key opened it already."""
        return await posts.create_once(
            session,
            self.db,
            Solicitation,
            "create_key",
            {
                "community_id": community_id,
                "channel_id": channel_id,
                "organiser_member_id": organiser_member_id,
                "topic": topic,
                "reward": reward,
                "status": OPEN,
                "closes_at": closes_at,
                "create_key": create_key,
                "created_at": now,
            },
        )

    async def get(self, session: AsyncSession, solicitation_id: int) -> SolicitationInfo | None:
        row = await posts.fetch_placed(session, Solicitation, solicitation_id)
        if row is None:
            return None
        call, platform, chat_id = row
        return posts.placed_info(
            SolicitationInfo,
            call,
            platform,
            chat_id,
            organiser_member_id=call.organiser_member_id,
            topic=call.topic,
            reward=int(call.reward),
            status=call.status,
            closes_at=call.closes_at,
            poll_id=call.poll_id,
        )

    async def newest_open(
        self, session: AsyncSession, community_id: int, now: datetime
    ) -> int | None:
        """The call ``/submit`` answers: the newest one still taking submissions."""
        value = await session.execute(
            select(Solicitation.id)
            .where(
                Solicitation.community_id == community_id,
                Solicitation.status == OPEN,
                Solicitation.closes_at > now,
            )
            .order_by(Solicitation.id.desc())
            .limit(1)
        )
        return value.scalar_one_or_none()

    async def submit(
        self,
        session: AsyncSession,
        solicitation_id: int,
        member_id: int,
        text: str,
        now: datetime,
        *,
        replace: bool = False,
    ) -> tuple[str, str | None]:
        """Store the member's entry while the call is open, or with ``replace`` change it:
        (``new`` | ``edited`` | ``twice`` | ``closed``, the entry as it was). A second entry
        without ``replace`` is refused. Locked with the call, so nothing slips in after the
        close."""
        call = (
            await session.execute(
                select(Solicitation).where(Solicitation.id == solicitation_id).with_for_update()
            )
        ).scalar_one()
        if call.status != OPEN or call.closes_at <= now:
            return "closed", None
        table = Submission.__table__
        existing = (
            await session.execute(
                select(Submission.text).where(
                    Submission.solicitation_id == solicitation_id,
                    Submission.member_id == member_id,
                )
            )
        ).scalar_one_or_none()
        if existing is not None and not replace:
            return "twice", existing
        statement = self.db.insert(table).values(
            solicitation_id=solicitation_id,
            member_id=member_id,
            text=text,
            created_at=now,
            updated_at=now,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["solicitation_id", "member_id"],
                set_={"text": statement.excluded.text, "updated_at": statement.excluded.updated_at},
            )
        )
        return ("edited" if existing is not None else "new"), existing

    async def entries(self, session: AsyncSession, solicitation_id: int) -> list[Entry]:
        rows = await session.execute(
            select(
                Submission.member_id, Member.platform_user_id, Member.display_name, Submission.text
            )
            .join(Member, Member.id == Submission.member_id)
            .where(Submission.solicitation_id == solicitation_id)
            .order_by(Submission.created_at, Submission.id)
        )
        return [Entry(int(m), str(u), str(n or u), str(t)) for m, u, n, t in rows.all()]

    async def due_to_close(self, session: AsyncSession, now: datetime) -> list[int]:
        rows = await session.execute(
            select(Solicitation.id)
            .where(Solicitation.status == OPEN, Solicitation.closes_at <= now)
            .order_by(Solicitation.closes_at)
            .limit(100)
        )
        return list(rows.scalars())

    async def due_to_settle(self, session: AsyncSession) -> list[int]:
        """Calls in their vote whose poll has closed."""
        return await waiting_on_closed_polls(session, Solicitation, VOTING)

    async def move(
        self,
        session: AsyncSession,
        solicitation_id: int,
        before: str,
        after: str,
        now: datetime,
        *,
        poll_id: int | None = None,
    ) -> bool:
        """A conditional status change; ``True`` for the one caller that made it."""
        values: dict[str, object] = {"status": after}
        if poll_id is not None:
            values["poll_id"] = poll_id
        if after in (DONE, VOID):
            values["settled_at"] = now
        moved = await session.execute(
            update(Solicitation)
            .where(Solicitation.id == solicitation_id, Solicitation.status == before)
            .values(**values)
        )
        return (moved.rowcount or 0) == 1  # type: ignore[attr-defined]
