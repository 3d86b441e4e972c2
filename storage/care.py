"""Care (关怀): counts of scored and low-mood messages, alerts to carers, members' opt-outs.

What is kept, and nothing more: per community and local day, how many messages were scored
and how many read negative (the community's mood); per member and day the same two counts
(the member's own baseline; deleted on opt-out and after ``retention_days``); an alert per
distress or crisis message: its level, score, the message's ids and who settled it, never
its text; a cooldown row per member (until when no new alert is raised); who opted out.

Counts come in batches (one upsert per table and flush, ``n = n + excluded.n``), never a
write per message. An alert is raised by one conditional upsert of the member's cooldown
(``claim_cooldown``) and the alert's insert in the same transaction: under any number of
concurrent messages, one alert per member and cooldown. Settling an alert is one
conditional ``UPDATE ... WHERE status = 'open'``: the first carer's press wins.

An alert's notices are sent after its row is committed; the row carries a lease
(``sending_until``) that the sending clears. A stop in between leaves the lease to run out,
and then one process takes the alert over with one conditional ``UPDATE`` (``claim_sending``)
and sends the notices again: possibly twice, never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.db import Database
from storage.insights import add_up
from storage.members import Member

__all__ = [
    "FALSE_ALARM",
    "OPEN",
    "REACHED_OUT",
    "AlertInfo",
    "CareAlert",
    "CareCooldown",
    "CareDay",
    "CareFigures",
    "CareMemberDay",
    "CareOptOut",
    "CareRepo",
    "DayCount",
    "LowMood",
    "MemberCount",
]

OPEN, REACHED_OUT, FALSE_ALARM = "open", "reached_out", "false_alarm"


class CareDay(Base):
    """A community's scored and negative messages on one local day (its mood)."""

    __tablename__ = "care_days"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    negative: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CareMemberDay(Base):
    """One member's scored and negative messages on one local day (their own baseline)."""

    __tablename__ = "care_member_days"
    __table_args__ = (Index("ix_care_member_days_community_day", "community_id", "day"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    scored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    negative: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CareOptOut(Base):
    """A member who asked that their messages are not scored (``/care optout``)."""

    __tablename__ = "care_opt_outs"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime]


class CareCooldown(Base):
    """Until when no new alert is raised for a member, and the level of the last one (a
    crisis after a distress alert still raises one)."""

    __tablename__ = "care_cooldowns"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int] = mapped_column(SmallInteger)
    until: Mapped[datetime]


class CareAlert(Base):
    """A distress or crisis message told to the carers: ids, level and score, never its text."""

    __tablename__ = "care_alerts"
    __table_args__ = (
        Index("ix_care_alerts_community_status", "community_id", "status"),
        Index("ix_care_alerts_sending_until", "sending_until"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(SmallInteger)
    score: Mapped[float] = mapped_column(Float)
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    message_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    #: ``open``, ``reached_out`` or ``false_alarm``.
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    #: How many carers the private notice reached (0: nobody could be written to; ``None``:
    #: not sent yet, or the process stopped while sending: the notices are sent again once
    #: ``sending_until`` ran out, possibly twice, never lost; ``/care alerts`` shows both as
    #: not delivered meanwhile).
    delivered: Mapped[int | None] = mapped_column(SmallInteger)
    #: Until when the process that raised (or took over) the alert is sending its notices;
    #: cleared when they are recorded as sent, or the alert is settled. Once it has run out
    #: with nothing recorded, a stop cut the sending off: the resend tick takes it over.
    #: ``None`` on rows from before the lease existed (nothing to send again).
    sending_until: Mapped[datetime | None]
    #: Whether the member was sent the community's help resources (crisis only).
    resources_sent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    settled_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )


@dataclass(frozen=True, slots=True)
class DayCount:
    """Counts to add to a community's day."""

    community_id: int
    day: date
    scored: int
    negative: int


@dataclass(frozen=True, slots=True)
class MemberCount:
    """Counts to add to a member's day."""

    community_id: int
    member_id: int
    day: date
    scored: int
    negative: int


@dataclass(frozen=True, slots=True)
class AlertInfo:
    id: int
    community_id: int
    member_id: int
    display_name: str
    platform_user_id: str
    level: int
    score: float
    channel_id: str | None
    message_id: str
    status: str
    delivered: int | None
    created_at: datetime
    resources_sent: bool = False


@dataclass(frozen=True, slots=True)
class LowMood:
    """A member whose last days read lower than their own earlier weeks."""

    member_id: int
    display_name: str
    recent_scored: int
    recent_negative: int
    base_scored: int
    base_negative: int


@dataclass(frozen=True, slots=True)
class CareFigures:
    """The operators' ``/care stats``: alerts by outcome and the period's mood."""

    alerts: int
    open: int
    reached_out: int
    false_alarms: int
    undelivered: int
    scored: int
    negative: int


class CareRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- counts -----------------------------------------------------------------------------

    async def add(
        self, session: AsyncSession, days: Sequence[DayCount], members: Sequence[MemberCount]
    ) -> None:
        """Add a flush's counts: one upsert per table (in pages), rows summed per key and in
        key order (no row twice in a statement, no deadlock between two processes)."""
        by_day: dict[tuple[int, date], list[int]] = {}
        for row in days:
            into = by_day.setdefault((row.community_id, row.day), [0, 0])
            into[0] += row.scored
            into[1] += row.negative
        by_member: dict[tuple[int, date], list[int]] = {}
        for found in members:
            into = by_member.setdefault((found.member_id, found.day), [found.community_id, 0, 0])
            into[1] += found.scored
            into[2] += found.negative
        await add_up(
            session,
            CareDay.__table__,
            ("community_id", "day", "scored", "negative"),
            [(c, d, s, n) for (c, d), (s, n) in sorted(by_day.items())],
            key=("community_id", "day"),
            added=("scored", "negative"),
        )
        await add_up(
            session,
            CareMemberDay.__table__,
            ("member_id", "day", "community_id", "scored", "negative"),
            [(m, d, c, s, n) for (m, d), (c, s, n) in sorted(by_member.items())],
            key=("member_id", "day"),
            added=("scored", "negative"),
        )

    async def prune(self, session: AsyncSession, before: date) -> int:
        """Delete members' daily counts before ``before`` (their baseline's retention)."""
        result = await session.execute(delete(CareMemberDay).where(CareMemberDay.day < before))
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def mood(
        self, session: AsyncSession, community_id: int, first: date, last: date
    ) -> dict[date, tuple[int, int]]:
        """The community's (scored, negative) by day from ``first`` to ``last``."""
        rows = await session.execute(
            select(CareDay.day, CareDay.scored, CareDay.negative).where(
                CareDay.community_id == community_id, CareDay.day >= first, CareDay.day <= last
            )
        )
        return {day: (int(s), int(n)) for day, s, n in rows.all()}

    async def member_days(self, session: AsyncSession, member_id: int) -> int:
        """How many daily rows a member has (tests and the opt-out's proof)."""
        found = await session.scalar(
            select(func.count())
            .select_from(CareMemberDay)
            .where(CareMemberDay.member_id == member_id)
        )
        return int(found or 0)

    async def low_moods(
        self,
        session: AsyncSession,
        community_id: int,
        today: date,
        *,
        recent_days: int,
        base_days: int,
        ratio: float,
        min_negative: int,
    ) -> list[LowMood]:
        """Members whose negative share over the last ``recent_days`` (today included) is at
        least ``ratio`` times their share over the ``base_days`` before, with at least
        ``min_negative`` negative messages lately; opted-out and departed members never.
        One grouped query; the comparison is made here (integers, no float SQL)."""
        recent_from = date.fromordinal(today.toordinal() - recent_days + 1)
        base_from = date.fromordinal(recent_from.toordinal() - base_days)
        recent = CareMemberDay.day >= recent_from
        rows = await session.execute(
            select(
                Member.id,
                Member.display_name,
                func.sum(_when(recent, CareMemberDay.scored)),
                func.sum(_when(recent, CareMemberDay.negative)),
                func.sum(_when(~recent, CareMemberDay.scored)),
                func.sum(_when(~recent, CareMemberDay.negative)),
            )
            .join(Member, Member.id == CareMemberDay.member_id)
            .where(
                CareMemberDay.community_id == community_id,
                CareMemberDay.day >= base_from,
                CareMemberDay.day <= today,
                Member.left_at.is_(None),
                ~select(CareOptOut.member_id).where(CareOptOut.member_id == Member.id).exists(),
            )
            .group_by(Member.id, Member.display_name)
            .order_by(Member.display_name, Member.id)
        )
        found = []
        for member_id, name, rs, rn, bs, bn in rows.all():
            rs, rn, bs, bn = int(rs or 0), int(rn or 0), int(bs or 0), int(bn or 0)
            # rn/rs >= ratio * bn/bs, without division: rn * bs >= ratio * bn * rs.
            if rs and rn >= min_negative and (not bs or rn * bs >= ratio * bn * rs):
                found.append(LowMood(int(member_id), name, rs, rn, bs, bn))
        return found

    # -- opt-outs ---------------------------------------------------------------------------

    async def opt_out(self, session: AsyncSession, member_id: int, now: datetime) -> bool:
        """Stop scoring the member and delete their daily counts; ``False`` if already out."""
        inserted = await session.execute(
            self.db.insert(CareOptOut.__table__)
            .values(member_id=member_id, since=now)
            .on_conflict_do_nothing(index_elements=["member_id"])
            .returning(CareOptOut.__table__.c.member_id)
        )
        await session.execute(delete(CareMemberDay).where(CareMemberDay.member_id == member_id))
        return inserted.first() is not None

    async def opt_in(self, session: AsyncSession, member_id: int) -> bool:
        """Score the member again; ``False`` if they were not out."""
        result = await session.execute(delete(CareOptOut).where(CareOptOut.member_id == member_id))
        return (result.rowcount or 0) > 0  # type: ignore[attr-defined]

    async def opted_out(self, session: AsyncSession, community_id: int) -> set[int]:
        rows = await session.execute(
            select(CareOptOut.member_id)
            .join(Member, Member.id == CareOptOut.member_id)
            .where(Member.community_id == community_id)
        )
        return {int(i) for i in rows.scalars()}

    # -- alerts -----------------------------------------------------------------------------

    async def raise_alert(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        level: int,
        score: float,
        channel_id: str | None,
        message_id: str,
        now: datetime,
        until: datetime,
        sending_until: datetime,
    ) -> int | None:
        """Claim the member's cooldown and record the alert, in the caller's transaction: the
        alert's id, or ``None`` when a cooldown of this level or higher is still running.
        ``sending_until`` is the sender's lease: after it, with nothing delivered, the
        notices are sent again (``claim_sending``).
        The claim is one statement: insert the cooldown, or take it over when it ran out or
        this alert is graver (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``)."""
        table = CareCooldown.__table__
        statement = self.db.insert(table).values(member_id=member_id, level=level, until=until)
        claimed = await session.execute(
            statement.on_conflict_do_update(
                index_elements=["member_id"],
                set_={"level": statement.excluded.level, "until": statement.excluded.until},
                where=(table.c.until <= now) | (table.c.level < statement.excluded.level),
            ).returning(table.c.member_id)
        )
        if claimed.first() is None:
            return None
        created = await session.execute(
            self.db.insert(CareAlert.__table__)
            .values(
                community_id=community_id,
                member_id=member_id,
                level=level,
                score=score,
                channel_id=channel_id,
                message_id=message_id[:PLATFORM_ID_LEN],
                status=OPEN,
                created_at=now,
                sending_until=sending_until,
            )
            .returning(CareAlert.__table__.c.id)
        )
        return int(created.scalar_one())

    async def delivered(
        self, session: AsyncSession, alert_id: int, reached: int, resources_sent: bool
    ) -> None:
        """Record that the notices were sent (how many carers they reached): the lease ends."""
        await session.execute(
            update(CareAlert)
            .where(CareAlert.id == alert_id)
            .values(delivered=reached, resources_sent=resources_sent, sending_until=None)
        )

    async def cut_off(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        """Open alerts whose sending a stop cut off (nothing delivered, the lease ran out),
        oldest lease first, at most ``limit``."""
        rows = await session.execute(
            select(CareAlert.id)
            .where(
                CareAlert.sending_until <= now,
                CareAlert.delivered.is_(None),
                CareAlert.status == OPEN,
            )
            .order_by(CareAlert.sending_until, CareAlert.id)
            .limit(limit)
        )
        return [int(i) for i in rows.scalars()]

    async def claim_sending(
        self, session: AsyncSession, alert_id: int, now: datetime, until: datetime
    ) -> bool:
        """Take over a cut-off alert's sending until ``until``: one conditional ``UPDATE``,
        so of any number of processes exactly one wins; ``False`` when another did, or it
        was delivered or settled meanwhile."""
        result = await session.execute(
            update(CareAlert)
            .where(
                CareAlert.id == alert_id,
                CareAlert.delivered.is_(None),
                CareAlert.status == OPEN,
                CareAlert.sending_until <= now,
            )
            .values(sending_until=until)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def settle(
        self,
        session: AsyncSession,
        alert_id: int,
        status: str,
        by_member_id: int | None,
        now: datetime,
    ) -> bool:
        """Mark an open alert ``reached_out`` or ``false_alarm``; ``False`` if it was settled."""
        result = await session.execute(
            update(CareAlert)
            .where(CareAlert.id == alert_id, CareAlert.status == OPEN)
            .values(
                status=status,
                settled_at=now,
                settled_by_member_id=by_member_id,
                sending_until=None,  # answered: nothing left to send again
            )
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def get(self, session: AsyncSession, alert_id: int) -> AlertInfo | None:
        found = await self._alerts(session, CareAlert.id == alert_id)
        return found[0] if found else None

    async def open_alerts(self, session: AsyncSession, community_id: int) -> list[AlertInfo]:
        """Open alerts, oldest first."""
        return await self._alerts(
            session, CareAlert.community_id == community_id, CareAlert.status == OPEN
        )

    async def _alerts(self, session: AsyncSession, *where: object) -> list[AlertInfo]:
        rows = await session.execute(
            select(CareAlert, Member.display_name, Member.platform_user_id)
            .join(Member, Member.id == CareAlert.member_id)
            .where(*where)  # type: ignore[arg-type]
            .order_by(CareAlert.created_at, CareAlert.id)
        )
        return [
            AlertInfo(
                id=a.id,
                community_id=a.community_id,
                member_id=a.member_id,
                display_name=name,
                platform_user_id=user_id,
                level=a.level,
                score=a.score,
                channel_id=a.channel_id,
                message_id=a.message_id,
                status=a.status,
                delivered=a.delivered,
                created_at=a.created_at,
                resources_sent=a.resources_sent,
            )
            for a, name, user_id in rows.all()
        ]

    async def figures(
        self, session: AsyncSession, community_id: int, since: datetime, first_day: date
    ) -> CareFigures:
        """Alerts raised since ``since`` by outcome, and messages scored since ``first_day``."""
        status = await session.execute(
            select(CareAlert.status, func.count())
            .where(CareAlert.community_id == community_id, CareAlert.created_at >= since)
            .group_by(CareAlert.status)
        )
        by_status = {s: int(n) for s, n in status.all()}
        undelivered = await session.scalar(
            select(func.count())
            .select_from(CareAlert)
            .where(
                CareAlert.community_id == community_id,
                CareAlert.created_at >= since,
                or_(CareAlert.delivered == 0, CareAlert.delivered.is_(None)),
            )
        )
        mood = await session.execute(
            select(func.sum(CareDay.scored), func.sum(CareDay.negative)).where(
                CareDay.community_id == community_id, CareDay.day >= first_day
            )
        )
        scored, negative = mood.one()
        return CareFigures(
            alerts=sum(by_status.values()),
            open=by_status.get(OPEN, 0),
            reached_out=by_status.get(REACHED_OUT, 0),
            false_alarms=by_status.get(FALSE_ALARM, 0),
            undelivered=int(undelivered or 0),
            scored=int(scored or 0),
            negative=int(negative or 0),
        )

    async def false_alarms(self, session: AsyncSession, community_id: int) -> int:
        """False alarms ever marked in the community (the detector's evaluation notes)."""
        found = await session.scalar(
            select(func.count())
            .select_from(CareAlert)
            .where(CareAlert.community_id == community_id, CareAlert.status == FALSE_ALARM)
        )
        return int(found or 0)


def _when(condition: object, column: object) -> object:
    """``CASE WHEN condition THEN column ELSE 0 END`` (a conditional sum's term)."""
    return case((condition, column), else_=0)  # type: ignore[arg-type]
