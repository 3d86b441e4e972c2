"""Moments: what the persona has said once (a milestone, a holiday, a welcome back), the names
members asked to be called (``/callme``) and a community's own holidays.

A moment is claimed by one ``INSERT ... ON CONFLICT DO NOTHING`` on the unique key
(community, member, kind, occasion), in the transaction of the change it speaks of (the new
check-in, the packet sent, the answer accepted): whichever of many concurrent handlers
inserts the row says the line, every other one finds the key taken, and a replay after a
restart finds it taken too. Nothing is written per chat message.

Call names are read on the hot path of every reply that addresses a member, so each
community's names are kept in memory (``names_of``) and loaded at most once per ``REFRESH``
by the feature's middleware; a ``/callme`` here updates them at once, one made by another
process is seen within ``REFRESH``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.cache import BoundedCache
from storage.base import Base, Id
from storage.checkins import CheckIn
from storage.db import Database
from storage.insights import InsightMemberDay
from storage.members import Member

__all__ = [
    "CALL_NAME_LEN",
    "HOLIDAY_NAME_LEN",
    "MILESTONE_KINDS",
    "CallName",
    "CommunityHoliday",
    "Holiday",
    "MilestoneEffect",
    "Moment",
    "MomentFacts",
    "MomentRepo",
    "Rate",
]

#: The longest name a member may ask to be called, and a community holiday's name.
CALL_NAME_LEN = 24
HOLIDAY_NAME_LEN = 32
#: Moments that mark something a member did (the ones ``milestone_effect`` measures).
MILESTONE_KINDS = ("streak", "checkins", "first_redpacket", "first_answer", "joined")
#: How long a community's call names are answered from memory before they are read again.
REFRESH = timedelta(minutes=5)
#: Communities whose call names are kept in memory (the least recently used go first).
NAMED_COMMUNITIES = 5_000
#: How many days after a milestone a check-in counts as a return (``milestone_effect``).
RETURN_WINDOW = 7


class Moment(Base):
    """A line the persona said once: its kind (``streak``, ``holiday``, ``return``...) and
    occasion (``30:2026-01-01`` for the streak that began that day, ``spring_festival:2026``)."""

    __tablename__ = "moments"
    __table_args__ = (
        UniqueConstraint("community_id", "member_id", "kind", "occasion"),
        Index("ix_moments_community_day", "community_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    occasion: Mapped[str] = mapped_column(String(64))
    #: The community's local day it was said on (``milestone_effect`` counts from it).
    local_date: Mapped[date] = mapped_column(Date)
    said_at: Mapped[datetime]


class CallName(Base):
    """The name a member asked the persona to call them in one community (``/callme``)."""

    __tablename__ = "call_names"
    __table_args__ = (UniqueConstraint("member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(CALL_NAME_LEN))
    set_at: Mapped[datetime]


class CommunityHoliday(Base):
    """A day a community celebrates every year, added by its operators (``/holiday add``)."""

    __tablename__ = "community_holidays"
    __table_args__ = (UniqueConstraint("community_id", "month", "day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    month: Mapped[int] = mapped_column(SmallInteger)
    day: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(HOLIDAY_NAME_LEN))
    added_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class Holiday:
    """A community's own holiday: every year on ``month``-``day``."""

    month: int
    day: int
    name: str


@dataclass(frozen=True, slots=True)
class MomentFacts:
    """What the bot already holds about a member that a moment may speak of."""

    #: Check-ins ever made here, today's included.
    checkins: int
    #: The last day before today the member checked in or was seen active (insights), if known.
    last_seen: date | None
    birthday: tuple[int, int] | None
    member_since: datetime


@dataclass(frozen=True, slots=True)
class Rate:
    """``returned`` of ``total`` members checked in again within a week."""

    returned: int
    total: int

    @property
    def share(self) -> float | None:
        return self.returned / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class MilestoneEffect:
    """Check-in return rate after a milestone line, against comparable check-ins with none."""

    with_moment: Rate
    without: Rate


#: What the member did on a day of insights (replies and reactions *received* are not theirs).
_ACTIVE = sum(
    (
        getattr(InsightMemberDay, column)
        for column in (
            "messages", "reactions", "checkins", "grabs", "votes", "rsvps", "submissions",
            "attendances", "questions", "answers", "feedback",
        )
    ),
    literal(0),
)  # fmt: skip


def _pairs(rows: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """Two-column rows as a dict (``dict(result)`` would take a ``Result`` for a mapping:
    it has ``keys()``)."""
    return {key: value for key, value in rows}


class MomentRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._names: BoundedCache[int, dict[str, str]] = BoundedCache(
            NAMED_COMMUNITIES, REFRESH.total_seconds()
        )

    # -- moments --------------------------------------------------------------------------
    async def claim(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        kind: str,
        occasion: str,
        day: date,
        now: datetime,
    ) -> bool:
        """Claim a moment: ``True`` for the one caller whose insert made the row."""
        table = Moment.__table__
        inserted = await session.execute(
            self.db.insert(table)
            .values(
                community_id=community_id,
                member_id=member_id,
                kind=kind,
                occasion=occasion[:64],
                local_date=day,
                said_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["community_id", "member_id", "kind", "occasion"]
            )
            .returning(table.c.id)
        )
        return inserted.first() is not None

    async def claim_many(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        wanted: Sequence[tuple[int, str, str]],
        day: date,
        now: datetime,
    ) -> set[tuple[int, str, str]]:
        """``claim`` for many (member id, kind, occasion) in one statement (a burst of
        check-ins is one batch): the ones this caller's insert made."""
        if not wanted:
            return set()
        table = Moment.__table__
        rows = await session.execute(
            self.db.insert(table)
            .on_conflict_do_nothing(
                index_elements=["community_id", "member_id", "kind", "occasion"]
            )
            .returning(table.c.member_id, table.c.kind, table.c.occasion),
            [
                {
                    "community_id": community_id,
                    "member_id": member_id,
                    "kind": kind,
                    "occasion": occasion[:64],
                    "local_date": day,
                    "said_at": now,
                }
                for member_id, kind, occasion in sorted(set(wanted))
            ],
        )
        return {(m, k, o) for m, k, o in rows}

    async def said(self, session: AsyncSession, community_id: int) -> list[tuple[int, str, str]]:
        """Every moment said in a community: (member id, kind, occasion), oldest first."""
        rows = await session.execute(
            select(Moment.member_id, Moment.kind, Moment.occasion)
            .where(Moment.community_id == community_id)
            .order_by(Moment.id)
        )
        return [(m, k, o) for m, k, o in rows]

    async def facts(
        self, session: AsyncSession, member_ids: Iterable[int], today: date
    ) -> dict[int, MomentFacts]:
        """What moments may speak of, for the members who just checked in: three grouped
        reads whatever their number (a burst of check-ins is one batch)."""
        ids = sorted(set(member_ids))
        if not ids:
            return {}
        counts = _pairs(
            await session.execute(
                select(CheckIn.member_id, func.count())
                .where(CheckIn.member_id.in_(ids))
                .group_by(CheckIn.member_id)
            )
        )
        last_checkin = _pairs(
            await session.execute(
                select(CheckIn.member_id, func.max(CheckIn.local_date))
                .where(CheckIn.member_id.in_(ids), CheckIn.local_date < today)
                .group_by(CheckIn.member_id)
            )
        )
        last_active = _pairs(
            await session.execute(
                select(InsightMemberDay.member_id, func.max(InsightMemberDay.day))
                .where(
                    InsightMemberDay.member_id.in_(ids), InsightMemberDay.day < today, _ACTIVE > 0
                )
                .group_by(InsightMemberDay.member_id)
            )
        )
        members = await session.execute(
            select(
                Member.id,
                Member.birthday_month,
                Member.birthday_day,
                func.coalesce(Member.joined_at, Member.first_seen_at),
            ).where(Member.id.in_(ids))
        )
        found: dict[int, MomentFacts] = {}
        for member_id, month, day, since in members:
            seen = [d for d in (last_checkin.get(member_id), last_active.get(member_id)) if d]
            found[member_id] = MomentFacts(
                checkins=int(counts.get(member_id, 0)),
                last_seen=max(seen) if seen else None,
                birthday=(month, day) if month and day else None,
                member_since=since,
            )
        return found

    async def last_seen(self, session: AsyncSession, member_id: int, today: date) -> date | None:
        """The last day before ``today`` a member checked in or was seen active."""
        found = await self.facts(session, [member_id], today)
        return found[member_id].last_seen if member_id in found else None

    async def milestone_effect(
        self, session: AsyncSession, community_id: int, since: date, until: date
    ) -> MilestoneEffect:
        """The share of members who checked in again within ``RETURN_WINDOW`` days after a
        check-in that carried a milestone line (streak, check-in count...), against check-ins
        at a comparable streak (within a fifth, at least 2 days either way) that carried none.
        Check-ins on ``since`` .. ``until`` count whose week is over by ``until``."""
        last = until - timedelta(days=RETURN_WINDOW)
        if last < since:
            return MilestoneEffect(Rate(0, 0), Rate(0, 0))
        marked = {
            (member_id, day)
            for member_id, day in (
                await session.execute(
                    select(Moment.member_id, Moment.local_date).where(
                        Moment.community_id == community_id,
                        Moment.kind.in_(MILESTONE_KINDS),
                        Moment.local_date >= since,
                        Moment.local_date <= last,
                    )
                )
            )
        }
        rows = await session.execute(
            select(CheckIn.member_id, CheckIn.local_date, CheckIn.streak).where(
                CheckIn.community_id == community_id,
                CheckIn.local_date >= since,
                CheckIn.local_date <= until,
            )
        )
        days: dict[int, set[date]] = {}
        streaks: dict[tuple[int, date], int] = {}
        for member_id, day, streak in rows:
            days.setdefault(member_id, set()).add(day)
            streaks[(member_id, day)] = streak

        def returned(member_id: int, day: date) -> bool:
            mine = days.get(member_id, set())
            return any(day + timedelta(days=n) in mine for n in range(1, RETURN_WINDOW + 1))

        with_streaks = [streaks[key] for key in marked if key in streaks]
        with_moment = Rate(sum(returned(m, d) for m, d in marked), len(marked))
        comparable = [
            (member_id, day)
            for (member_id, day), streak in streaks.items()
            if day <= last
            and (member_id, day) not in marked
            and any(abs(streak - s) <= max(2, s // 5) for s in with_streaks)
        ]
        without = Rate(sum(returned(m, d) for m, d in comparable), len(comparable))
        return MilestoneEffect(with_moment, without)

    # -- call names -----------------------------------------------------------------------
    def names_of(self, community_id: int) -> Mapping[str, str] | None:
        """A community's call names by platform user id, if loaded recently; else ``None``."""
        return self._names.get(community_id)

    async def load_names(self, session: AsyncSession, community_id: int) -> Mapping[str, str]:
        rows = await session.execute(
            select(Member.platform_user_id, CallName.name)
            .join(Member, Member.id == CallName.member_id)
            .where(CallName.community_id == community_id)
        )
        names = {user_id: name for user_id, name in rows}
        self._names[community_id] = names
        return names

    async def call(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        platform_user_id: str,
        name: str | None,
        now: datetime,
    ) -> None:
        """Set (or with ``None`` forget) the name a member is called here."""
        table = CallName.__table__
        if name is None:
            await session.execute(delete(CallName).where(CallName.member_id == member_id))
        else:
            insert = self.db.insert(table).values(
                community_id=community_id, member_id=member_id, name=name, set_at=now
            )
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["member_id"],
                    set_={"name": insert.excluded.name, "set_at": insert.excluded.set_at},
                )
            )

        def remember() -> None:
            names = self._names.get(community_id)
            if names is None:
                return
            if name is None:
                names.pop(platform_user_id, None)
            else:
                names[platform_user_id] = name

        self.db.after_commit(session, remember)

    # -- holidays -------------------------------------------------------------------------
    async def holidays(self, session: AsyncSession, community_id: int) -> list[Holiday]:
        rows = await session.execute(
            select(CommunityHoliday.month, CommunityHoliday.day, CommunityHoliday.name)
            .where(CommunityHoliday.community_id == community_id)
            .order_by(CommunityHoliday.month, CommunityHoliday.day)
        )
        return [Holiday(m, d, n) for m, d, n in rows]

    async def add_holiday(
        self, session: AsyncSession, community_id: int, holiday: Holiday, now: datetime
    ) -> None:
        """Add a holiday, or rename the one on that day."""
        insert = self.db.insert(CommunityHoliday.__table__).values(
            community_id=community_id,
            month=holiday.month,
            day=holiday.day,
            name=holiday.name,
            added_at=now,
        )
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["community_id", "month", "day"],
                set_={"name": insert.excluded.name},
            )
        )

    async def remove_holiday(
        self, session: AsyncSession, community_id: int, month: int, day: int
    ) -> bool:
        removed = await session.execute(
            delete(CommunityHoliday).where(
                CommunityHoliday.community_id == community_id,
                CommunityHoliday.month == month,
                CommunityHoliday.day == day,
            )
        )
        return bool(removed.rowcount)  # type: ignore[attr-defined]
