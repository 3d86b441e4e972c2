"""Events with RSVP (社群活动): sign-ups with a waitlist, durable reminders, check-in at the
event.

Answers change under the event row's lock, so a full event never takes one too many and a
freed place goes to the first in the waitlist exactly once. A reminder is a row unique per
(event, minutes before), claimed ``pending -> sending`` by one tick before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, REASON_LEN, UPDATE_KEY_LEN, Base, Id
from storage.db import Database
from storage.members import Member

__all__ = [
    "ANSWERS",
    "Answered",
    "Attendee",
    "DueReminder",
    "Event",
    "EventInfo",
    "EventReminder",
    "EventRepo",
    "EventRsvp",
]


class Event(Base):
    """A community event (社群活动) members sign up for; reminders are ``event_reminders``."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_upcoming", "community_id", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    creator_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(REASON_LEN))
    place: Mapped[str | None] = mapped_column(String(REASON_LEN))
    #: Most members going; the rest wait in order (``None``: no limit).
    capacity: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: open or cancelled
    status: Mapped[str] = mapped_column(String(16), default="open")
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The platform update that created it: a redelivered command creates no second event.
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]


class EventRsvp(Base):
    """A member's answer: going, maybe, no, or waiting (going, but the event was full)."""

    __tablename__ = "event_rsvps"
    __table_args__ = (
        UniqueConstraint("event_id", "member_id"),
        Index("ix_event_rsvps_answer", "event_id", "answer", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(String(16))
    #: When this answer was given: the waitlist's order.
    answered_at: Mapped[datetime]
    #: Checked in at the event (``/here``).
    here_at: Mapped[datetime | None]


class EventReminder(Base):
    """One scheduled reminder, unique per (event, minutes before): claimed once by the tick,
    so a restart or a second process sends it once."""

    __tablename__ = "event_reminders"
    __table_args__ = (
        UniqueConstraint("event_id", "minutes_before"),
        Index("ix_event_reminders_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    minutes_before: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    #: pending, sending, sent, skipped (too late, or the event was cancelled)
    status: Mapped[str] = mapped_column(String(16), default="pending")


OPEN, CANCELLED = "open", "cancelled"
GOING, MAYBE, NO, WAITING = "going", "maybe", "no", "waiting"
#: What members may answer; ``waiting`` is what ``going`` becomes when the event is full.
ANSWERS = (GOING, MAYBE, NO)
#: An event's message (with its answer buttons) stands for its row (``storage.posts``).
POSTED = posts.register("event", Event)


@dataclass(frozen=True, slots=True)
class EventInfo(posts.PlacedInfo):
    posted_kind: ClassVar[str] = POSTED

    creator_member_id: int
    title: str
    place: str | None
    capacity: int | None
    starts_at: datetime
    ends_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class Attendee:
    member_id: int
    platform_user_id: str
    display_name: str
    answer: str
    here: bool


@dataclass(frozen=True, slots=True)
class Answered:
    """An answer's outcome: what the member is now (``going`` may become ``waiting``), what
    they were, and who moved up from the waitlist because of it."""

    refused: str | None = None
    answer: str | None = None
    previous: str | None = None
    promoted: tuple[Attendee, ...] = ()


@dataclass(frozen=True, slots=True)
class DueReminder:
    id: int
    event_id: int
    minutes_before: int


class EventRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        channel_id: str | None,
        creator_member_id: int,
        title: str,
        place: str | None,
        capacity: int | None,
        starts_at: datetime,
        ends_at: datetime,
        reminders: list[int],
        create_key: str,
        now: datetime,
    ) -> int | None:
        """The new event's id (its reminders scheduled), or ``None`` if this key made it."""
        return await posts.create_once(
            session,
            self.db,
            Event,
            "create_key",
            {
                "community_id": community_id,
                "channel_id": channel_id,
                "creator_member_id": creator_member_id,
                "title": title,
                "place": place,
                "capacity": capacity,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "status": OPEN,
                "create_key": create_key,
                "created_at": now,
            },
            children=(
                EventReminder,
                "event_id",
                [
                    {
                        "minutes_before": minutes,
                        "due_at": starts_at - timedelta(minutes=minutes),
                        # A reminder already past when the event is created is not sent.
                        "status": "pending"
                        if starts_at - timedelta(minutes=minutes) > now
                        else "skipped",
                    }
                    for minutes in reminders
                ],
            ),
        )

    async def get(self, session: AsyncSession, event_id: int) -> EventInfo | None:
        row = await posts.fetch_placed(session, Event, event_id)
        return _info(*row) if row else None

    async def upcoming(
        self, session: AsyncSession, community_id: int, now: datetime, limit: int = 20
    ) -> list[EventInfo]:
        """Open events not yet over, soonest first."""
        rows = await session.execute(
            posts.placed(Event)
            .where(Event.community_id == community_id, Event.status == OPEN, Event.ends_at > now)
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
        return [_info(*row) for row in rows.all()]

    async def counts(self, session: AsyncSession, event_id: int) -> dict[str, int]:
        rows = await session.execute(
            select(EventRsvp.answer, func.count())
            .where(EventRsvp.event_id == event_id)
            .group_by(EventRsvp.answer)
        )
        return {str(answer): int(count) for answer, count in rows.all()}

    async def attendees(
        self, session: AsyncSession, event_id: int, answers: tuple[str, ...]
    ) -> list[Attendee]:
        """Members who answered one of ``answers``, in the order they answered."""
        rows = await session.execute(
            select(
                EventRsvp.member_id,
                Member.platform_user_id,
                Member.display_name,
                EventRsvp.answer,
                EventRsvp.here_at,
            )
            .join(Member, Member.id == EventRsvp.member_id)
            .where(EventRsvp.event_id == event_id, EventRsvp.answer.in_(answers))
            .order_by(EventRsvp.answered_at, EventRsvp.id)
        )
        return [
            Attendee(int(m), str(uid), str(name or uid), str(answer), here is not None)
            for m, uid, name, answer, here in rows.all()
        ]

    async def answer(
        self, session: AsyncSession, event_id: int, member_id: int, answer: str, now: datetime
    ) -> Answered:
        """Record ``answer`` (going, maybe or no) under the event's lock."""
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}")
        event = (
            await session.execute(select(Event).where(Event.id == event_id).with_for_update())
        ).scalar_one_or_none()
        if event is None or event.status != OPEN:
            return Answered(refused="cancelled")
        if now >= event.ends_at:
            return Answered(refused="over")
        previous = (
            await session.execute(
                select(EventRsvp.answer).where(
                    EventRsvp.event_id == event_id, EventRsvp.member_id == member_id
                )
            )
        ).scalar_one_or_none()
        if answer == GOING and previous in (GOING, WAITING):
            return Answered(answer=previous, previous=previous)  # unchanged: keep the place
        if answer == previous:
            return Answered(answer=answer, previous=previous)
        given = answer
        if answer == GOING and event.capacity is not None:
            going = await self._count(session, event_id, GOING)
            if going >= event.capacity:
                given = WAITING
        table = EventRsvp.__table__
        statement = self.db.insert(table).values(
            event_id=event_id, member_id=member_id, answer=given, answered_at=now
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["event_id", "member_id"],
                set_={
                    "answer": statement.excluded.answer,
                    "answered_at": statement.excluded.answered_at,
                },
            )
        )
        promoted: tuple[Attendee, ...] = ()
        if previous == GOING and event.capacity is not None:
            promoted = await self._promote(session, event_id, event.capacity)
        return Answered(answer=given, previous=previous, promoted=promoted)

    async def _count(self, session: AsyncSession, event_id: int, answer: str) -> int:
        value = await session.execute(
            select(func.count()).where(EventRsvp.event_id == event_id, EventRsvp.answer == answer)
        )
        return int(value.scalar_one())

    async def _promote(
        self, session: AsyncSession, event_id: int, capacity: int
    ) -> tuple[Attendee, ...]:
        """Move the first waiting members up while there is room (caller holds the lock)."""
        room = capacity - await self._count(session, event_id, GOING)
        if room <= 0:
            return ()
        waiting = (await self.attendees(session, event_id, (WAITING,)))[:room]
        if waiting:
            await session.execute(
                update(EventRsvp)
                .where(
                    EventRsvp.event_id == event_id,
                    EventRsvp.member_id.in_([a.member_id for a in waiting]),
                )
                .values(answer=GOING)
            )
        return tuple(waiting)

    async def cancel(self, session: AsyncSession, event_id: int) -> bool:
        """``open -> cancelled`` once; its pending reminders are dropped."""
        cancelled = await session.execute(
            update(Event).where(Event.id == event_id, Event.status == OPEN).values(status=CANCELLED)
        )
        if (cancelled.rowcount or 0) != 1:  # type: ignore[attr-defined]
            return False
        await session.execute(
            update(EventReminder)
            .where(EventReminder.event_id == event_id, EventReminder.status == "pending")
            .values(status="skipped")
        )
        return True

    async def check_in(
        self, session: AsyncSession, event_id: int, member_id: int, now: datetime
    ) -> str:
        """``/here``: ``done`` once for a member who is going; ``again`` or ``not_going``."""
        marked = await session.execute(
            update(EventRsvp)
            .where(
                EventRsvp.event_id == event_id,
                EventRsvp.member_id == member_id,
                EventRsvp.answer == GOING,
                EventRsvp.here_at.is_(None),
            )
            .values(here_at=now)
        )
        if (marked.rowcount or 0) == 1:  # type: ignore[attr-defined]
            return "done"
        here = (
            await session.execute(
                select(EventRsvp.here_at).where(
                    EventRsvp.event_id == event_id, EventRsvp.member_id == member_id
                )
            )
        ).scalar_one_or_none()
        return "again" if here is not None else "not_going"

    async def happening(
        self, session: AsyncSession, community_id: int, now: datetime, early: timedelta
    ) -> list[EventInfo]:
        """Open events one can check in at now (from ``early`` before the start to the end)."""
        rows = await session.execute(
            posts.placed(Event)
            .where(
                Event.community_id == community_id,
                Event.status == OPEN,
                Event.starts_at <= now + early,
                Event.ends_at > now,
            )
            .order_by(Event.starts_at, Event.id)
        )
        return [_info(*row) for row in rows.all()]

    # -- reminders ----------------------------------------------------------------------------
    async def due_reminders(self, session: AsyncSession, now: datetime) -> list[DueReminder]:
        rows = await session.execute(
            select(EventReminder.id, EventReminder.event_id, EventReminder.minutes_before)
            .where(EventReminder.status == "pending", EventReminder.due_at <= now)
            .order_by(EventReminder.due_at)
            .limit(100)
        )
        return [DueReminder(int(i), int(e), int(m)) for i, e, m in rows.all()]

    async def move_reminder(
        self, session: AsyncSession, reminder_id: int, before: str, after: str
    ) -> bool:
        """A conditional status change: ``True`` for the one caller that made it."""
        moved = await session.execute(
            update(EventReminder)
            .where(EventReminder.id == reminder_id, EventReminder.status == before)
            .values(status=after)
        )
        return (moved.rowcount or 0) == 1  # type: ignore[attr-defined]


def _info(event: Event, platform: str, chat_id: str) -> EventInfo:
    return posts.placed_info(
        EventInfo,
        event,
        platform,
        chat_id,
        creator_member_id=event.creator_member_id,
        title=event.title,
        place=event.place,
        capacity=event.capacity,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        status=event.status,
    )
