"""Insights reports (社群运营监测): the figures behind ``/stats`` and the weekly digest, read from
the capture's daily rows (``storage/insights.py``) and the members table.

Everything is aggregated in the database: a report reads one row per day, per hour slot, per
cohort or per member, never a year of daily rows. Days are the community's local days (its zone
and day reset hour, see ``Calendar``), as the capture writes them.

Definitions every report shares:

- A member is *active* on a day when they did something themselves that day: a message, a
  reaction, or an interaction (check-in, red-packet grab, vote, RSVP, submission). Being replied
  to is not activity.
- A period is ``n`` local days ending with ``last`` (inclusive); the previous period is the
  ``n`` days before it.

This module also keeps the one table the capture does not: messages per community per local
hour slot (``insight_hours``), for the hour-by-weekday heatmap.
"""

from __future__ import annotations

import hashlib
import hmac
from bisect import bisect_right
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from storage.base import Base
from storage.db import Database
from storage.insights import (
    COUNTERS,
    FILLFACTOR,
    InsightMemberDay,
    InsightMovement,
    InsightOptOut,
    InsightRepo,
    add_up,
)
from storage.members import Member

__all__ = [
    "EXPORT_COLUMNS",
    "INTERACTIONS",
    "Calendar",
    "Cohort",
    "DayPoint",
    "Days",
    "ExportRow",
    "Figure",
    "HourCount",
    "InsightCommunityDay",
    "InsightFold",
    "InsightHour",
    "InsightMemberBits",
    "InsightReports",
    "MemberActivity",
    "MemberName",
    "MyFigures",
    "PeriodFigures",
    "Ranked",
    "pseudonym",
]

#: The counters that are taking part rather than talking.
INTERACTIONS = (
    "checkins",
    "grabs",
    "votes",
    "rsvps",
    "submissions",
    "attendances",
    "questions",
    "answers",
    "feedback",
)
UTC_ZONE = ZoneInfo("UTC")
#: Windows 6 and 7 of ``period`` count check-ins, not activity.
CHECKED_WINDOWS = 6
#: Days back for which ``Calendar.finder`` finds a day fast (older moments: the slow way).
FAST_DAYS = 3 * 366
#: Weeks after joining that retention follows.
RETENTION_WEEKS = 8


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default="0")


class InsightHour(Base):
    """Messages of a community in one local hour of one local calendar day (the community's
    zone, no day reset: the heatmap shows the clock members see)."""

    __tablename__ = "insight_hours"
    __table_args__ = ({"postgresql_with": {"fillfactor": FILLFACTOR}},)

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    messages: Mapped[int] = _counter()


class InsightMemberBits(Base):
    """A member's active days (and check-in days) in one block of ``BLOCK_DAYS`` local days,
    one bit a day (bit ``n``: day ``block * BLOCK_DAYS + n`` counted from ``EPOCH``). Folded
    from the daily rows (``InsightReports.fold``): counting distinct members over any window
    reads a row per member per block instead of a row per member per day."""

    __tablename__ = "insight_member_bits"
    __table_args__ = (Index("ix_insight_member_bits_community_block", "community_id", "block"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    active: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    checked: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class InsightCommunityDay(Base):
    """A community's day: members active and messages (folded from the daily rows)."""

    __tablename__ = "insight_community_days"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    active: Mapped[int] = _counter()
    messages: Mapped[int] = _counter()


class InsightFold(Base):
    """The last day whose daily rows were folded into the two tables above, by community."""

    __tablename__ = "insight_folds"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    through: Mapped[date] = mapped_column(Date)


#: Days per ``insight_member_bits`` row (60 bits fit a signed 64-bit integer), from ``EPOCH``.
BLOCK_DAYS = 60
EPOCH = date(2000, 1, 1)


def block_of(day: date) -> tuple[int, int]:
    """The block of ``day`` and its bit in it."""
    block, offset = divmod((day - EPOCH).days, BLOCK_DAYS)
    return block, 1 << offset


def block_masks(days: Days) -> dict[int, int]:
    """The bits of ``days`` in each block they touch."""
    masks: dict[int, int] = {}
    for day in days.each():
        block, bit = block_of(day)
        masks[block] = masks.get(block, 0) | bit
    return masks


# -- time -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calendar:
    """A community's days: its zone and the hour its day starts (as ``bot.context.local_date``)."""

    zone: ZoneInfo = UTC_ZONE
    reset_hour: int = 0

    def start(self, day: date) -> datetime:
        """The UTC instant the local ``day`` begins."""
        return datetime.combine(day, time(self.reset_hour), self.zone).astimezone(UTC)

    def day_of(self, moment: datetime) -> date:
        """The local day ``moment`` falls on."""
        return (moment.astimezone(self.zone) - timedelta(hours=self.reset_hour)).date()

    def slot(self, moment: datetime) -> tuple[date, int]:
        """The local calendar day and hour of ``moment``: its ``insight_hours`` slot (the
        clock members see, no day reset)."""
        local = moment.astimezone(self.zone)
        return local.date(), local.hour

    def finder(self, first: date, last: date) -> Callable[[datetime], date]:
        """``day_of`` for many moments: a search among the day starts from ``first`` to
        ``last`` (a few times faster than converting each moment); ``day_of`` outside them."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        starts = [self.start(day).timestamp() for day in days]
        starts.append(self.start(last + timedelta(days=1)).timestamp())
        end = len(days)

        def find(moment: datetime) -> date:
            at = bisect_right(starts, moment.timestamp()) - 1
            return days[at] if 0 <= at < end else self.day_of(moment)

        return find


@dataclass(frozen=True, slots=True)
class Days:
    """Local days ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, count: int) -> Days:
        return cls(last - timedelta(days=count - 1), last)

    @property
    def count(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Days:
        """The period of the same length just before this one."""
        return Days.ending(self.first - timedelta(days=1), self.count)

    def each(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.count)]


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure for a period and the same figure for the period before."""

    now: float
    before: float

    @property
    def change(self) -> float | None:
        """The relative change (0.25 is +25%); ``None`` when there was nothing before."""
        return (self.now - self.before) / self.before if self.before else None


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """``/stats 7d|30d|90d``: the community over ``days`` against the period before.

    - ``members``: members (bots aside) present at the end of the period's last day.
    - ``dau``: active members per day, averaged over the period's days.
    - ``wau`` / ``mau``: members active in the 7 / 30 days ending on the period's last day.
    - ``stickiness``: ``dau / mau`` (0 when nobody was active in 30 days).
    - ``active``: members active at least once in the period.
    - ``checkin_rate``: members who checked in at least once in the period, divided by the
      period's active members (a check-in is activity, so it is at most 1).
    """

    days: Days
    members: Figure
    dau: Figure
    wau: Figure
    mau: Figure
    stickiness: Figure
    active: Figure
    messages: Figure
    joins: Figure
    leaves: Figure
    net_growth: Figure
    checked_in: Figure
    checkin_rate: Figure

    @property
    def empty(self) -> bool:
        """Nothing was recorded in either period: "not enough data yet", not an empty chart."""
        return not (self.active.now or self.active.before or self.joins.now or self.leaves.now)


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    active: int
    messages: int


@dataclass(slots=True)
class MemberActivity:
    """One member as the role and lifecycle rules see them, on ``today``. Not frozen: one is
    built for every member of a community (100,000 in a big one), and a frozen dataclass is
    built about ten times slower; nothing changes one once built.

    The counters sum the *role window* (the ``role_days`` ending today); ``active_days`` counts
    active days in the *history window* (``history_days`` ending today), ``active_days_before``
    in the history window ending a week ago. ``last_active`` is the last active day seen (at
    most ``history_days + 6`` days back; ``None``: not in that time), ``last_active_before``
    the last one up to a week ago. ``joined`` is the local day of the join the bot recorded
    (``None`` if it only saw them talk), ``since`` that day or else the day it first saw them
    (``MemberInfo.member_since``), ``left`` the day they left (``None``: still here)."""

    member_id: int
    today: date
    since: date
    joined: date | None
    left: date | None
    messages: int = 0
    replies_given: int = 0
    replies_received: int = 0
    links: int = 0
    files: int = 0
    reactions: int = 0
    interactions: int = 0
    active_days: int = 0
    active_days_before: int = 0
    last_active: date | None = None
    last_active_before: date | None = None

    @property
    def threads(self) -> int:
        """Messages that were not replies: conversations this member started."""
        return max(self.messages - self.replies_given, 0)

    @property
    def shares(self) -> int:
        """Links and files shared."""
        return self.links + self.files


@dataclass(frozen=True, slots=True)
class Ranked:
    """A member in ``/stats top``: ``score`` is messages plus reactions plus interactions."""

    member_id: int
    score: int
    messages: int
    interactions: int
    active_days: int


@dataclass(frozen=True, slots=True)
class MemberName:
    member_id: int
    platform_user_id: str
    display_name: str
    username: str | None


@dataclass(frozen=True, slots=True)
class Cohort:
    """Members whose join the bot recorded in the local week starting ``week`` (a Monday), and
    the share of them active in each of the weeks 1-8 after it (``None``: not over yet)."""

    week: date
    size: int
    retained: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class MyFigures:
    """``/stats me``: a member's own counts over ``days`` and their streaks of active days
    (``current``: the run ending today or yesterday; ``longest``: in the rows kept)."""

    days: Days
    counts: dict[str, int]
    active_days: int
    current_streak: int
    longest_streak: int
    last_active: date | None


#: The CSV header of ``export``'s rows, in their order.
EXPORT_COLUMNS = ("day", "member", "name", *COUNTERS)


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One member's local day for the CSV export; an opted-out member is a pseudonym in
    ``member`` and has no name."""

    day: date
    member: str
    name: str
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HourCount:
    """Messages to add to a community's local hour slot."""

    community_id: int
    day: date
    hour: int
    messages: int


#: Hour slots as ``add_up`` writes them: table, columns in row order, key.
HOURS = (
    InsightHour.__table__,
    ("community_id", "day", "hour", "messages"),
    ("community_id", "day", "hour"),
)


def merged_hours(counts: Sequence[HourCount]) -> list[tuple[Any, ...]]:
    """Hour counts as rows, each slot once (its messages summed), in key order."""
    merged: dict[tuple[int, date, int], int] = {}
    for count in counts:
        key = (count.community_id, count.day, count.hour)
        merged[key] = merged.get(key, 0) + count.messages
    return [(c, d, h, n) for (c, d, h), n in sorted(merged.items())]


def pseudonym(key: bytes, member_id: int) -> str:
    """A stable name for an opted-out member in exports: the same for every export made with
    ``key``, and not the member's id (nor anything it can be computed back from without it)."""
    digest = hmac.new(key, str(member_id).encode(), hashlib.sha256).hexdigest()
    return f"anon-{digest[:10]}"


# -- SQL pieces ---------------------------------------------------------------------------------

D = InsightMemberDay
ACTS = (
    D.messages
    + D.reactions
    + D.checkins
    + D.grabs
    + D.votes
    + D.rsvps
    + D.submissions
    + D.attendances
    + D.questions
    + D.answers
    + D.feedback
)  # what a member did themselves that day (reactions received are not their doing)
TAKING_PART = (
    D.checkins
    + D.grabs
    + D.votes
    + D.rsvps
    + D.submissions
    + D.attendances
    + D.questions
    + D.answers
    + D.feedback
)
ACTIVE = ACTS > 0
SINCE = func.coalesce(Member.joined_at, Member.first_seen_at)


def _within(days: Days) -> ColumnElement[bool]:
    return D.day.between(days.first, days.last)


def _folded(block: int, bit: int) -> Any:
    """The daily row's member already has this day's bits (and the row adds none)."""
    B = InsightMemberBits
    return select(B.member_id).where(
        B.member_id == D.member_id,
        B.block == block,
        or_(B.active.op("&")(bit) != 0, ~ACTIVE),
        or_(B.checked.op("&")(bit) != 0, D.checkins == 0),
    )


def _present_at(moment: datetime) -> ColumnElement[bool]:
    return and_(SINCE < moment, or_(Member.left_at.is_(None), Member.left_at >= moment))


def _figure(now: Any, before: Any) -> Figure:
    return Figure(float(now or 0), float(before or 0))


class _Instants:
    """Instants as the database returns them, without a ``datetime`` built for each: SQLite's
    text (``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC, which sorts as the instants do) or
    PostgreSQL's aware ``datetime``; ``key`` writes an instant the same way, so a member's
    local day is a search among the day starts."""

    def __init__(self, dialect: str) -> None:
        self.text = dialect == "sqlite"

    def raw(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return type_coerce(column, String() if self.text else DateTime(timezone=True))

    def key(self, moment: datetime) -> Any:
        """``moment`` (whole seconds, as day starts are) as ``raw`` returns it: without the
        fraction, so an instant stored with one sorts at or after it."""
        if not self.text:
            return moment
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def instant(self, value: Any) -> datetime:
        if not self.text:
            return value.astimezone(UTC)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def finder(self, calendar: Calendar, first: date, last: date) -> Callable[[Any], date]:
        """``Calendar.finder`` for raw instants."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 2)]
        starts = [self.key(calendar.start(day)) for day in days]
        end = len(days) - 1

        def find(value: Any) -> date:
            at = bisect_right(starts, value) - 1
            return days[at] if 0 <= at < end else calendar.day_of(self.instant(value))

        return find


class InsightReports:
    """Read-only queries over the capture's rows (and the writes of ``insight_hours``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- folding ------------------------------------------------------------------------------

    async def fold(self, session: AsyncSession, community_id: int, today: date) -> int:
        """Fold the daily rows of the days not folded yet into ``insight_member_bits`` and
        ``insight_community_days``, ``today`` included; how many days were folded. Yesterday
        and today are folded again each time (their rows may have grown since): folding is
        idempotent (bits are OR-ed in, a community's day is recomputed), so two processes
        folding at once agree. Reports call it first; a steady community folds two days,
        once per transaction (the digest's reports share one fold)."""
        done = session.info.setdefault("insight_folds", set())
        if (community_id, today) in done:
            return 0
        done.add((community_id, today))
        through = (
            await session.execute(
                select(InsightFold.through).where(InsightFold.community_id == community_id)
            )
        ).scalar_one_or_none()
        if through is None:
            through = (
                await session.execute(select(func.min(D.day)).where(D.community_id == community_id))
            ).scalar_one_or_none()
            if through is None:
                return 0
            first = through
        else:
            first = through - timedelta(days=1)
        days = Days(first, today).each() if first <= today else []
        bits, community_days = InsightMemberBits.__table__, InsightCommunityDay.__table__
        for day in days:
            block, bit = block_of(day)
            made = self.db.insert(bits).from_select(
                ["member_id", "block", "community_id", "active", "checked"],
                select(
                    D.member_id,
                    literal(block, Integer),
                    D.community_id,
                    case((ACTIVE, literal(bit, BigInteger)), else_=literal(0, BigInteger)),
                    case((D.checkins > 0, literal(bit, BigInteger)), else_=literal(0, BigInteger)),
                ).where(
                    D.community_id == community_id,
                    D.day == day,
                    ~_folded(block, bit).exists(),  # a day folded again writes only what is new
                ),
            )
            await session.execute(
                made.on_conflict_do_update(
                    index_elements=["member_id", "block"],
                    set_={
                        "active": bits.c.active.op("|")(made.excluded.active),
                        "checked": bits.c.checked.op("|")(made.excluded.checked),
                    },
                )
            )
            summed = self.db.insert(community_days).from_select(
                ["community_id", "day", "active", "messages"],
                select(
                    literal(community_id, Integer),
                    literal(day, Date),
                    func.coalesce(func.sum(case((ACTIVE, 1), else_=0)), 0),
                    func.coalesce(func.sum(D.messages), 0),
                ).where(D.community_id == community_id, D.day == day),
            )
            await session.execute(
                summed.on_conflict_do_update(
                    index_elements=["community_id", "day"],
                    set_={"active": summed.excluded.active, "messages": summed.excluded.messages},
                )
            )
        folds = InsightFold.__table__
        marked = self.db.insert(folds).values(community_id=community_id, through=today)
        await session.execute(
            marked.on_conflict_do_update(
                index_elements=["community_id"],
                set_={"through": marked.excluded.through},
                where=folds.c.through < marked.excluded.through,
            )
        )
        return len(days)

    async def _bits(
        self, session: AsyncSession, community_id: int, days: Days, member_id: int | None = None
    ) -> Any:
        """``(member_id, block, active, checked)`` of the blocks ``days`` touch."""
        first, _bit = block_of(days.first)
        last, _bit = block_of(days.last)
        B = InsightMemberBits
        where = [B.community_id == community_id, B.block.between(first, last)]
        if member_id is not None:
            where.append(B.member_id == member_id)
        return await session.execute(
            select(B.member_id, B.block, B.active, B.checked).where(*where)
        )

    # -- hour slots ---------------------------------------------------------------------------

    async def add_hours(self, session: AsyncSession, counts: Sequence[HourCount]) -> None:
        """Add messages to hour slots: one upsert adding to what is there, each slot once, in
        key order (as the capture's ``InsightRepo.add``)."""
        table, columns, key = HOURS
        await add_up(session, table, columns, merged_hours(counts), key=key, added=("messages",))

    async def prune(self, session: AsyncSession, before: date) -> int:
        """Delete what reports keep of days before ``before`` (the capture's retention): hour
        slots, a community's days, and bits of blocks that end before it; how many rows."""
        block, _bit = block_of(before)
        gone = 0
        for statement in (
            InsightHour.__table__.delete().where(InsightHour.day < before),
            InsightCommunityDay.__table__.delete().where(InsightCommunityDay.day < before),
            InsightMemberBits.__table__.delete().where(InsightMemberBits.block < block),
        ):
            result = await session.execute(statement)
            gone += result.rowcount or 0  # type: ignore[attr-defined]
        return gone

    async def heatmap(
        self, session: AsyncSession, community_id: int, days: Days
    ) -> list[list[int]]:
        """Messages by local weekday (0 Monday) and hour (0-23) over ``days``."""
        rows = await session.execute(
            select(InsightHour.day, InsightHour.hour, func.sum(InsightHour.messages))
            .where(
                InsightHour.community_id == community_id,
                InsightHour.day.between(days.first, days.last),
            )
            .group_by(InsightHour.day, InsightHour.hour)
        )
        grid = [[0] * 24 for _ in range(7)]
        for day, hour, messages in rows.all():
            grid[day.weekday()][hour] += int(messages or 0)
        return grid

    # -- period figures -----------------------------------------------------------------------

    async def period(
        self, session: AsyncSession, community_id: int, days: Days, calendar: Calendar
    ) -> PeriodFigures:
        """The figures of ``days`` and of the period before (three aggregate statements).
        ``days`` may end today (a day still running) or yesterday (whole days): the caller
        chooses."""
        await self.fold(session, community_id, days.last)
        before = days.previous()
        week, month = Days.ending(days.last, 7), Days.ending(days.last, 30)
        week_before, month_before = Days.ending(before.last, 7), Days.ending(before.last, 30)
        # Members active (or checked in) in each window: bit n of a member's flags is set
        # when their bits meet window n's (windows 0-5 by activity, 6-7 by check-ins).
        windows = [days, before, week, week_before, month, month_before, days, before]
        plan: dict[int, list[tuple[int, int, bool]]] = {}
        for n, window in enumerate(windows):
            for block, mask in block_masks(window).items():
                plan.setdefault(block, []).append((1 << n, mask, n >= CHECKED_WINDOWS))
        flags: dict[int, int] = {}
        earliest = min(window.first for window in windows)
        for member_id, block, active_bits, checked_bits in await self._bits(
            session, community_id, Days(earliest, days.last)
        ):
            found = 0
            for flag, mask, by_checkin in plan.get(block, ()):
                if (checked_bits if by_checkin else active_bits) & mask:
                    found |= flag
            if found:
                flags[member_id] = flags.get(member_id, 0) | found
        members_in = [0] * len(windows)
        for combination, members in Counter(flags.values()).items():
            for n in range(len(windows)):
                if combination >> n & 1:
                    members_in[n] += members
        C = InsightCommunityDay
        summed = (
            await session.execute(
                select(
                    func.sum(case((C.day >= days.first, C.active), else_=0)),
                    func.sum(case((C.day < days.first, C.active), else_=0)),
                    func.sum(case((C.day >= days.first, C.messages), else_=0)),
                    func.sum(case((C.day < days.first, C.messages), else_=0)),
                ).where(C.community_id == community_id, C.day.between(before.first, days.last))
            )
        ).one()
        member_days, member_days_before = summed[0], summed[1]
        active_members = _figure(members_in[0], members_in[1])
        wau_figure, mau_figure = _figure(*members_in[2:4]), _figure(*members_in[4:6])
        messages, checked_in = _figure(*summed[2:4]), _figure(*members_in[6:8])
        M = InsightMovement
        moved = (
            await session.execute(
                select(
                    func.sum(
                        case((and_(M.direction == "join", M.day >= days.first), M.n), else_=0)
                    ),
                    func.sum(case((and_(M.direction == "join", M.day < days.first), M.n), else_=0)),
                    func.sum(
                        case((and_(M.direction == "leave", M.day >= days.first), M.n), else_=0)
                    ),
                    func.sum(
                        case((and_(M.direction == "leave", M.day < days.first), M.n), else_=0)
                    ),
                ).where(M.community_id == community_id, M.day.between(before.first, days.last))
            )
        ).one()
        joins, leaves = _figure(*moved[0:2]), _figure(*moved[2:4])
        end, end_before = (calendar.start(d + timedelta(days=1)) for d in (days.last, before.last))
        present = (
            await session.execute(
                select(
                    func.sum(case((_present_at(end), 1), else_=0)),
                    func.sum(case((_present_at(end_before), 1), else_=0)),
                ).where(Member.community_id == community_id, Member.is_bot.is_(false()))
            )
        ).one()
        dau = Figure(
            float(member_days or 0) / days.count, float(member_days_before or 0) / days.count
        )
        return PeriodFigures(
            days=days,
            members=_figure(*present),
            dau=dau,
            wau=wau_figure,
            mau=mau_figure,
            stickiness=Figure(
                dau.now / mau_figure.now if mau_figure.now else 0.0,
                dau.before / mau_figure.before if mau_figure.before else 0.0,
            ),
            active=active_members,
            messages=messages,
            joins=joins,
            leaves=leaves,
            net_growth=Figure(joins.now - leaves.now, joins.before - leaves.before),
            checked_in=checked_in,
            checkin_rate=Figure(
                checked_in.now / active_members.now if active_members.now else 0.0,
                checked_in.before / active_members.before if active_members.before else 0.0,
            ),
        )

    async def daily(self, session: AsyncSession, community_id: int, days: Days) -> list[DayPoint]:
        """Active members and messages of each day of ``days`` (days without rows are 0)."""
        await self.fold(session, community_id, days.last)
        C = InsightCommunityDay
        rows = await session.execute(
            select(C.day, C.active, C.messages).where(
                C.community_id == community_id, C.day.between(days.first, days.last)
            )
        )
        found = {day: (int(active), int(messages)) for day, active, messages in rows}
        return [DayPoint(day, *found.get(day, (0, 0))) for day in days.each()]

    # -- members ------------------------------------------------------------------------------

    async def activity(
        self,
        session: AsyncSession,
        community_id: int,
        today: date,
        calendar: Calendar,
        *,
        role_days: int = 30,
        history_days: int = 90,
        member_id: int | None = None,
    ) -> list[MemberActivity]:
        """Every member (bots aside) present today or gone within the history window, with
        their activity as ``MemberActivity`` describes; or only ``member_id``. Three reads:
        the role window's sums (daily rows grouped by member), the active-day bits of the
        history windows, and the members."""
        found = await self.activity_weeks(
            session,
            community_id,
            [today],
            calendar,
            role_days=role_days,
            history_days=history_days,
            member_id=member_id,
        )
        return found[today]

    async def activity_weeks(
        self,
        session: AsyncSession,
        community_id: int,
        ends: Sequence[date],
        calendar: Calendar,
        *,
        role_days: int = 30,
        history_days: int = 90,
        member_id: int | None = None,
    ) -> dict[date, list[MemberActivity]]:
        """``activity`` on each day of ``ends`` (the lifecycle's weeks) from the same three
        reads: the latest day as ``activity`` gives it, the earlier ones without the role
        window's counters (left at 0: the lifecycle stages do not look at them)."""
        if not ends:
            return {}
        today = max(ends)
        await self.fold(session, community_id, today)
        where = [D.community_id == community_id, _within(Days.ending(today, role_days))]
        if member_id is not None:
            where.append(D.member_id == member_id)
        summed = await (await session.connection()).execute(
            select(
                D.member_id,
                *(func.sum(getattr(D, name)) for name in _ROLE_COUNTERS),
                func.sum(TAKING_PART),
            )
            .where(*where)
            .group_by(D.member_id)
        )
        sums: dict[int, tuple[int, ...]] = {row[0]: tuple(row[1:]) for row in summed.all()}
        return await self._activities(
            session, community_id, ends, calendar, history_days, sums, member_id
        )

    async def _activities(
        self,
        session: AsyncSession,
        community_id: int,
        ends: Sequence[date],
        calendar: Calendar,
        history_days: int,
        sums: dict[int, tuple[int, ...]],
        member_id: int | None = None,
    ) -> dict[date, list[MemberActivity]]:
        """The members and their bits read once for every day of ``ends`` (``sums``: the
        latest day's role window). Each member's bits become one integer (bit ``n``: day ``n``
        after ``origin``), so a window's active days are one ``&`` and a ``bit_count`` and its
        last active day a ``bit_length``; instants are compared with the day starts as the
        database returns them (no datetime built per member)."""
        ends = sorted(set(ends))
        first = ends[0] - timedelta(days=history_days + 6)  # the earliest history window a week ago
        low, _bit = block_of(first)
        high, _bit = block_of(ends[-1])
        origin = EPOCH + timedelta(days=low * BLOCK_DAYS)
        B = InsightMemberBits
        blocks = range(low, high + 1)

        def mask(days: Days) -> int:
            return ((1 << days.count) - 1) << (days.first - origin).days

        instant = _Instants(self.db.dialect)
        members = [
            Member.community_id == community_id,
            Member.is_bot.is_(false()),
            or_(
                Member.left_at.is_(None),
                Member.left_at >= calendar.start(ends[0] - timedelta(days=history_days - 1)),
            ),
        ]
        if member_id is not None:
            members.append(Member.id == member_id)
        # One row a member, their blocks side by side (a member's blocks are found by its key).
        connection = await session.connection()  # Core rows: no ORM loading for 100,000s
        rows = (
            await connection.execute(
                select(
                    Member.id,
                    instant.raw(SINCE),
                    Member.joined_at.is_not(None),
                    instant.raw(Member.left_at),
                    *(func.max(case((B.block == block, B.active))) for block in blocks),
                )
                .select_from(Member)
                .outerjoin(
                    B,
                    and_(B.member_id == Member.id, B.block.between(low, high), B.active != 0),
                )
                .where(*members)
                .group_by(Member.id)
            )
        ).all()
        day_of = instant.finder(calendar, ends[-1] - timedelta(days=FAST_DAYS), ends[-1])
        nothing = (0,) * (len(_ROLE_COUNTERS) + 1)
        shifts = [(block - low) * BLOCK_DAYS for block in blocks]
        known = []
        for who, since, joined, left, *active in rows:
            mine = 0
            for bits, shift in zip(active, shifts, strict=True):
                if bits:
                    mine |= bits << shift
            since_on = day_of(since)
            left_on = day_of(left) if left is not None else None
            known.append((who, since_on, since_on if joined else None, left, left_on, mine))
        found: dict[date, list[MemberActivity]] = {}
        for today in ends:
            history = Days.ending(today, history_days)
            week_ago = today - timedelta(days=7)
            history_before = Days.ending(week_ago, history_days)
            now, then = mask(history), mask(history_before)
            seen_now = mask(Days(history_before.first, today))
            seen_then = mask(Days(history_before.first, week_ago))
            gone_since = instant.key(calendar.start(history.first))
            day_named = [origin + timedelta(days=n) for n in range((today - origin).days + 1)]
            listed = found[today] = []
            counted = sums if today == ends[-1] else {}
            for who, since_on, joined_on, left, left_on, mine in known:
                if left is not None and left < gone_since:
                    continue
                got = counted.get(who)
                seen = mine & seen_now  # the other windows are in this one
                if not seen and got is None:  # nothing in the windows: the defaults
                    listed.append(MemberActivity(who, today, since_on, joined_on, left_on))
                    continue
                last = seen.bit_length()
                last_before = (mine & seen_then).bit_length()
                listed.append(
                    MemberActivity(
                        who,
                        today,
                        since_on,
                        joined_on,
                        left_on,
                        *(got or nothing),
                        (mine & now).bit_count(),
                        (mine & then).bit_count(),
                        day_named[last - 1] if last else None,
                        day_named[last_before - 1] if last_before else None,
                    )
                )
        return found

    async def top(
        self, session: AsyncSession, community_id: int, days: Days, limit: int = 10
    ) -> list[Ranked]:
        """The most active members of ``days`` who may be named (opted-out members left out):
        by messages plus reactions plus interactions, then by active days."""
        score = func.sum(ACTS)
        opted_out = select(InsightOptOut.member_id).where(InsightOptOut.member_id == D.member_id)
        rows = await session.execute(
            select(
                D.member_id,
                score,
                func.sum(D.messages),
                func.sum(TAKING_PART),
                func.sum(case((ACTIVE, 1), else_=0)),
            )
            .where(D.community_id == community_id, _within(days), ~opted_out.exists())
            .group_by(D.member_id)
            .having(score > 0)
            .order_by(score.desc(), func.sum(case((ACTIVE, 1), else_=0)).desc(), D.member_id)
            .limit(limit)
        )
        return [Ranked(int(m), int(s), int(n), int(i), int(a)) for m, s, n, i, a in rows.all()]

    async def names(
        self, session: AsyncSession, member_ids: Iterable[int]
    ) -> dict[int, MemberName]:
        """How to name the members (for the few a report lists)."""
        wanted = sorted(set(member_ids))
        if not wanted:
            return {}
        rows = await session.execute(
            select(Member.id, Member.platform_user_id, Member.display_name, Member.username).where(
                Member.id.in_(wanted)
            )
        )
        return {int(i): MemberName(int(i), u, n, name) for i, u, n, name in rows.all()}

    # -- retention ----------------------------------------------------------------------------

    async def cohorts(
        self,
        session: AsyncSession,
        community_id: int,
        today: date,
        calendar: Calendar,
        count: int = 8,
    ) -> list[Cohort]:
        """The ``count`` weekly join cohorts before this week (oldest first): members whose
        join the bot recorded in that local week (Monday to Sunday), and the share of them
        active in each of the 8 weeks after it. A week counts once it is over."""
        this_week = today - timedelta(days=today.weekday())
        first = this_week - timedelta(weeks=count)
        starts = [first + timedelta(weeks=n) for n in range(count + RETENTION_WEEKS + 1)]
        instants = [calendar.start(day) for day in starts]
        cohort = case(
            *(
                (and_(Member.joined_at >= instants[n], Member.joined_at < instants[n + 1]), n)
                for n in range(count)
            )
        )
        joined = [
            Member.community_id == community_id,
            Member.is_bot.is_(false()),
            Member.joined_at >= instants[0],
            Member.joined_at < instants[count],
        ]
        counted = await session.execute(
            select(cohort, func.count()).where(*joined).group_by(cohort)
        )
        sizes = {int(n): int(size) for n, size in counted}
        weeks = range(1, count + RETENTION_WEEKS)  # week 0 is the first cohort's own week
        week = case(
            *(
                (D.day.between(starts[n], starts[n] + timedelta(days=6)), n)
                for n in weeks
                if starts[n] <= today
            ),
            else_=-1,
        )
        active: dict[tuple[int, int], int] = {}
        if starts[1] <= today:
            rows = await session.execute(
                select(cohort, week, func.count(D.member_id.distinct()))
                .join(D, D.member_id == Member.id)
                .where(*joined, D.day.between(starts[1], today), ACTIVE)
                .group_by(cohort, week)
            )
            active = {(int(c), int(w)): int(n) for c, w, n in rows}
        found = []
        for n in range(count):
            size = int(sizes.get(n, 0))
            retained: list[float | None] = []
            for after in range(1, RETENTION_WEEKS + 1):
                over = starts[n + after] + timedelta(days=6) <= today
                retained.append(active.get((n, n + after), 0) / size if over and size else None)
            found.append(Cohort(starts[n], size, tuple(retained)))
        return found

    # -- one member ---------------------------------------------------------------------------

    async def me(self, session: AsyncSession, member_id: int, days: Days) -> MyFigures:
        """A member's own counts over ``days`` and their streaks (from every row kept)."""
        rows = await session.execute(
            select(D.day, *(getattr(D, name) for name in COUNTERS), ACTS)
            .where(D.member_id == member_id, D.day <= days.last)
            .order_by(D.day)
        )
        counts = dict.fromkeys(COUNTERS, 0)
        active_days, longest, run, previous = 0, 0, 0, None
        last_active = None
        for day, *values, acts in rows:
            if days.first <= day:
                for name, value in zip(COUNTERS, values, strict=True):
                    counts[name] += int(value)
                active_days += 1 if acts else 0
            if not acts:
                continue
            run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
            longest, previous, last_active = max(longest, run), day, day
        current = run if last_active is not None and (days.last - last_active).days <= 1 else 0
        return MyFigures(days, counts, active_days, current, longest, last_active)

    # -- export -------------------------------------------------------------------------------

    async def export(
        self, session: AsyncSession, community_id: int, days: Days, key: bytes
    ) -> AsyncIterator[ExportRow]:
        """Every member's daily row over ``days``, by day then member, streamed (a page of
        rows in memory at a time). Opted-out members appear under ``pseudonym(key, id)``."""
        opted_out = await InsightRepo(self.db).opted_out(session, community_id)
        result = await session.stream(
            select(
                D.day,
                D.member_id,
                Member.platform_user_id,
                Member.display_name,
                *(getattr(D, name) for name in COUNTERS),
            )
            .join(Member, Member.id == D.member_id)
            .where(D.community_id == community_id, _within(days))
            .order_by(D.day, D.member_id)
            .execution_options(yield_per=1000)
        )
        async for day, member_id, user_id, name, *counts in result:
            if member_id in opted_out:
                yield ExportRow(day, pseudonym(key, member_id), "", tuple(counts))
            else:
                yield ExportRow(day, user_id, name, tuple(counts))


#: The role window's counters, in ``MemberActivity`` order.
_ROLE_COUNTERS = ("messages", "replies_given", "replies_received", "links", "files", "reactions")
