"""Reminders members set for themselves (``/remindme 2h TEXT``): one row each, sent once.

A reminder is claimed and, if the bot stops mid-send, given up exactly as an outbox row is
(``storage/claims.py``: one conditional ``UPDATE``, ``pending -> sending -> sent``, a stale
``sending`` becomes ``unsure`` and is never sent again: at most once, never doubled).
Reminders are claimed one at a time: a process stopped between sending and marking leaves
only that one ``sending``.

Not the outbox (``storage/outbox.py``): its rows are posts to a chat held back by quiet
hours and an hourly cap; a reminder is a private notice to one member at the minute asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import claims
from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.claims import PENDING, SENDING, SENT
from storage.communities import Community
from storage.db import Database
from storage.members import Member

__all__ = ["TEXT_LEN", "DueReminder", "PendingReminder", "Reminder", "ReminderRepo"]

#: The longest reminder text kept (characters).
TEXT_LEN = 500


class Reminder(Base):
    """A reminder: whom (a member), where it was set (a fallback mention goes there), what,
    and when."""

    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_due", "status", "due_at"),
        Index("ix_reminders_member", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    #: The topic or thread it was set in (Discord channel, Telegram topic), if any.
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    text: Mapped[str] = mapped_column(String(TEXT_LEN))
    due_at: Mapped[datetime]
    #: pending, sending, sent, unsure (stopped between sending and marking: never again)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class PendingReminder:
    """A reminder still to come, as ``/remindme`` lists it."""

    id: int
    text: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A claimed reminder with whom and where it goes."""

    id: int
    community_id: int
    platform: str
    chat_id: str
    channel_id: str | None
    user_id: str
    display_name: str
    text: str
    due_at: datetime


class ReminderRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        session: AsyncSession,
        *,
        member_id: int,
        channel_id: str | None,
        text: str,
        due_at: datetime,
        now: datetime,
        most_pending: int,
    ) -> bool:
        """Keep a reminder unless the member already has ``most_pending`` waiting (``False``).
        On PostgreSQL the member's row is locked first, so two at once cannot both pass the
        count (SQLite writers are serial)."""
        if self.db.dialect == "postgresql":
            await session.execute(select(Member.id).where(Member.id == member_id).with_for_update())
        waiting = await session.execute(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.member_id == member_id, Reminder.status == PENDING)
        )
        if waiting.scalar_one() >= most_pending:
            return False
        session.add(
            Reminder(
                member_id=member_id,
                channel_id=channel_id,
                text=text,
                due_at=due_at,
                status=PENDING,
                created_at=now,
            )
        )
        await session.flush()
        return True

    async def pending(self, session: AsyncSession, member_id: int) -> list[PendingReminder]:
        """A member's reminders still to come, soonest first."""
        rows = await session.execute(
            select(Reminder.id, Reminder.text, Reminder.due_at)
            .where(Reminder.member_id == member_id, Reminder.status == PENDING)
            .order_by(Reminder.due_at, Reminder.id)
        )
        return [PendingReminder(int(i), t, d) for i, t, d in rows.all()]

    async def claim_next(self, session: AsyncSession, now: datetime) -> DueReminder | None:
        """Take the next due reminder for sending, in one ``UPDATE``; ``None`` when none is due.

        One at a time, so a process stopped or killed while sending leaves only the reminder
        on the wire ``sending`` (then ``unsure``), never the ones due with it. The row goes to
        one caller: on PostgreSQL a concurrent claim skips the row another one locked, and the
        ``status`` test holds on any database."""
        claimed = await claims.claim_due(session, self.db, Reminder, now, limit=1)
        if not claimed:
            return None
        [reminder_id] = claimed
        found = await session.execute(
            select(
                Reminder,
                Member.community_id,
                Community.platform,
                Community.chat_id,
                Member.platform_user_id,
                Member.display_name,
            )
            .join(Member, Member.id == Reminder.member_id)
            .join(Community, Community.id == Member.community_id)
            .where(Reminder.id == reminder_id)
        )
        row, community_id, platform, chat_id, user_id, name = found.one()
        return DueReminder(
            id=row.id,
            community_id=int(community_id),
            platform=platform,
            chat_id=chat_id,
            channel_id=row.channel_id,
            user_id=user_id,
            display_name=name,
            text=row.text,
            due_at=row.due_at,
        )

    async def mark_sent(self, session: AsyncSession, reminder_id: int) -> None:
        """``sending -> sent``."""
        await session.execute(
            update(Reminder)
            .where(Reminder.id == reminder_id, Reminder.status == SENDING)
            .values(status=SENT)
        )

    async def abandon_stale(self, session: AsyncSession, claimed_before: datetime) -> int:
        """Reminders left ``sending`` by a stopped process: ``unsure``, never sent again."""
        return await claims.abandon_stale(session, Reminder, claimed_before)
