"""Referrals (裂变): each member's own invite link, and every join through one.

A link is one row per (community, member), created once on the platform and reused. A join
through a link is one row per (community, newcomer): the unique key means a newcomer is
referred at most once, ever, so leaving and coming back never counts again. A join that cannot
be attributed with certainty (Discord: no tracked invite moved by exactly one) is kept as
``unknown``, never guessed.

Exactly-once by construction: a referral settles by one conditional ``UPDATE ... WHERE status =
'pending'`` whose points (``PointsReason.referral``: one idempotency key per referral and side)
are posted in the same transaction, so two ticks at once, or a tick killed and run again, pay
once. A leave cancels by the same kind of update, so a settle and a leave racing each other do
exactly one of the two. A suspicious link is flagged by a conditional update of its
``flagged_at``, so its moderators hear of it once a day at most.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    UniqueConstraint,
    and_,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from storage.base import Base, Id
from storage.db import Database
from storage.gates import GateChallenge
from storage.members import Member, MemberInfo

__all__ = [
    "CANCELLED",
    "COUNTED",
    "PENDING",
    "UNKNOWN",
    "URL_LEN",
    "VOID",
    "Burst",
    "DueReferral",
    "Kept",
    "KeptLink",
    "LinkInfo",
    "Referral",
    "ReferralLink",
    "ReferralRepo",
    "ReferralRow",
    "Tally",
]

URL_LEN = 256
#: pending: waiting to settle; counted: settled and paid; cancelled: left (or failed the
#: gate, or never did anything) before settling; void: never counts (self-invite, rejoin, an
#: account too young); unknown: a join nobody can be credited with for certain.
PENDING, COUNTED, CANCELLED, VOID, UNKNOWN = "pending", "counted", "cancelled", "void", "unknown"
#: Why a referral is void or cancelled.
SELF, REJOIN, YOUNG, LEFT, GATE, INACTIVE = "self", "rejoin", "young", "left", "gate", "inactive"
#: Gate challenges that mean "not through the gate (yet)".
_NOT_THROUGH = ("pending", "acting", "failed")


class ReferralLink(Base):
    """A member's own invite link into a community: made once by the platform, reused."""

    __tablename__ = "referral_links"
    __table_args__ = (
        UniqueConstraint("community_id", "member_id"),
        Index("ix_referral_links_community_url", "community_id", "url"),
        Index("ix_referral_links_community_name", "community_id", "name"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(URL_LEN))
    #: The name the platform shows for it (Telegram reports joins by it).
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    #: When its moderators were last told it looks farmed (once a day at most).
    flagged_at: Mapped[datetime | None]


class Referral(Base):
    """A newcomer's first join into a community through a member's link (or, ``unknown``,
    through a link nobody can be credited with), and what became of it."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("community_id", "newcomer_member_id"),
        Index("ix_referrals_due", "status", "due_at"),
        Index("ix_referrals_inviter", "inviter_member_id", "status"),
        Index("ix_referrals_link", "link_id", "joined_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_links.id", ondelete="SET NULL")
    )
    inviter_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    newcomer_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(16))
    joined_at: Mapped[datetime]
    #: When it is next looked at: settled, or looked at again later (not active yet).
    due_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    #: What was paid when it counted (the settings may change later).
    inviter_points: Mapped[int] = mapped_column(Integer, default=0)
    newcomer_points: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    id: int
    community_id: int
    member_id: int
    url: str
    name: str


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referral as ``/referrals`` lists it."""

    id: int
    status: str
    reason: str | None
    joined_at: datetime
    newcomer_name: str
    inviter_points: int


@dataclass(frozen=True, slots=True)
class DueReferral:
    """A pending referral whose time came, with what decides it."""

    id: int
    community_id: int
    inviter_member_id: int | None
    newcomer_member_id: int
    joined_at: datetime
    newcomer_left: bool
    newcomer_active: bool
    gate: str | None


@dataclass(frozen=True, slots=True)
class Tally:
    pending: int = 0
    counted: int = 0
    cancelled: int = 0
    void: int = 0


@dataclass(frozen=True, slots=True)
class Kept:
    """One inviter's joins that are 30 days old or more, and how many are still there."""

    member_id: int
    display_name: str
    joined: int
    kept: int


@dataclass(frozen=True, slots=True)
class KeptLink:
    """``Kept`` for one link: its name as the platform shows it, and whose it is."""

    member_id: int
    name: str
    joined: int
    kept: int


@dataclass(frozen=True, slots=True)
class Burst:
    """Many joins through one link within an hour, most gone within a day."""

    joins: int
    gone: int


def _link(row: ReferralLink) -> LinkInfo:
    return LinkInfo(row.id, row.community_id, row.member_id, row.url, row.name)


class ReferralRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- links ---------------------------------------------------------------------------
    async def link_of(self, session: AsyncSession, member_id: int) -> LinkInfo | None:
        found = await session.execute(
            select(ReferralLink).where(ReferralLink.member_id == member_id)
        )
        row = found.scalar_one_or_none()
        return _link(row) if row is not None else None

    async def keep_link(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        url: str,
        name: str,
        now: datetime,
    ) -> LinkInfo:
        """Keep the member's new link, unless a concurrent ``/mylink`` kept one first: the
        link kept (one per member, whoever came first)."""
        await session.execute(
            self.db.insert(ReferralLink.__table__)
            .values(
                community_id=community_id,
                member_id=member_id,
                url=url[:URL_LEN],
                name=name[:64],
                created_at=now,
                flagged_at=None,
            )
            .on_conflict_do_nothing(index_elements=["community_id", "member_id"])
        )
        kept = await self.link_of(session, member_id)
        assert kept is not None
        return kept

    async def find_link(
        self, session: AsyncSession, community_id: int, seen: str
    ) -> LinkInfo | None:
        """The link a join came through, by its URL or its name as the platform reported it
        (exact: a link made by anyone else matches nothing)."""
        found = await session.execute(
            select(ReferralLink)
            .where(
                ReferralLink.community_id == community_id,
                or_(ReferralLink.url == seen, ReferralLink.name == seen),
            )
            .order_by(ReferralLink.id)
            .limit(1)
        )
        row = found.scalar_one_or_none()
        return _link(row) if row is not None else None

    async def has_links(self, session: AsyncSession, community_id: int) -> bool:
        found = await session.execute(
            select(ReferralLink.id).where(ReferralLink.community_id == community_id).limit(1)
        )
        return found.first() is not None

    # -- joins and leaves -------------------------------------------------------------------
    async def record_join(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        link: LinkInfo | None,
        newcomer_member_id: int,
        joined_at: datetime,
        due_at: datetime,
        status: str,
        reason: str | None,
    ) -> bool:
        """Keep a newcomer's first join; ``False`` when they had one already (a rejoin, or
        the same join delivered twice): nothing changes then."""
        written = await session.execute(
            self.db.insert(Referral.__table__)
            .values(
                community_id=community_id,
                link_id=link.id if link else None,
                inviter_member_id=link.member_id if link else None,
                newcomer_member_id=newcomer_member_id,
                status=status,
                reason=reason,
                joined_at=joined_at,
                due_at=due_at,
                settled_at=None if status == PENDING else joined_at,
                inviter_points=0,
                newcomer_points=0,
            )
            .on_conflict_do_nothing(index_elements=["community_id", "newcomer_member_id"])
            .returning(Referral.__table__.c.id)
        )
        return written.first() is not None

    async def cancel_on_leave(
        self, session: AsyncSession, community_id: int, newcomer_member_id: int, now: datetime
    ) -> int | None:
        """The newcomer left: their referral is cancelled if it had not settled (once).
        The link they came through, whatever became of it (``None``: none)."""
        await session.execute(
            update(Referral)
            .where(
                Referral.community_id == community_id,
                Referral.newcomer_member_id == newcomer_member_id,
                Referral.status == PENDING,
            )
            .values(status=CANCELLED, reason=LEFT, settled_at=now)
        )
        found = await session.execute(
            select(Referral.link_id).where(
                Referral.community_id == community_id,
                Referral.newcomer_member_id == newcomer_member_id,
            )
        )
        row = found.first()
        return None if row is None else row[0]

    async def link(self, session: AsyncSession, link_id: int) -> LinkInfo | None:
        row = await session.get(ReferralLink, link_id)
        return _link(row) if row is not None else None

    # -- settling ----------------------------------------------------------------------------
    async def due(self, session: AsyncSession, now: datetime, limit: int = 100) -> list[int]:
        """Pending referrals whose time came, soonest first."""
        rows = await session.execute(
            select(Referral.id)
            .where(Referral.status == PENDING, Referral.due_at <= now)
            .order_by(Referral.due_at, Referral.id)
            .limit(limit)
        )
        return [int(i) for i in rows.scalars()]

    async def look_at(self, session: AsyncSession, referral_id: int) -> DueReferral | None:
        """A pending referral with what decides it: did the newcomer leave, do anything
        since joining, get through the gate? ``None`` if it is no longer pending."""
        gate = (
            select(GateChallenge.status)
            .where(
                GateChallenge.member_id == Referral.newcomer_member_id,
                GateChallenge.status.in_(_NOT_THROUGH),
            )
            .correlate(Referral)
            .limit(1)
            .scalar_subquery()
        )
        found = await session.execute(
            select(Referral, Member.left_at, Member.last_active_at, gate)
            .join(Member, Member.id == Referral.newcomer_member_id)
            .where(Referral.id == referral_id, Referral.status == PENDING)
        )
        row = found.first()
        if row is None:
            return None
        referral, left_at, active_at, gate_status = row
        return DueReferral(
            id=referral.id,
            community_id=referral.community_id,
            inviter_member_id=referral.inviter_member_id,
            newcomer_member_id=referral.newcomer_member_id,
            joined_at=referral.joined_at,
            newcomer_left=left_at is not None,
            newcomer_active=active_at is not None and active_at >= referral.joined_at,
            gate=gate_status,
        )

    async def settle(
        self, session: AsyncSession, referral_id: int, now: datetime, inviter: int, newcomer: int
    ) -> bool:
        """``pending -> counted`` once, keeping what it pays; ``False`` if another tick or a
        leave got there first (then nothing may be paid)."""
        done = await session.execute(
            update(Referral)
            .where(Referral.id == referral_id, Referral.status == PENDING)
            .values(
                status=COUNTED, settled_at=now, inviter_points=inviter, newcomer_points=newcomer
            )
        )
        return (done.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def cancel(
        self, session: AsyncSession, referral_id: int, now: datetime, why: str
    ) -> bool:
        done = await session.execute(
            update(Referral)
            .where(Referral.id == referral_id, Referral.status == PENDING)
            .values(status=CANCELLED, reason=why, settled_at=now)
        )
        return (done.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def later(self, session: AsyncSession, referral_id: int, due_at: datetime) -> None:
        """Look again at ``due_at`` (the newcomer has not done anything yet)."""
        await session.execute(
            update(Referral)
            .where(Referral.id == referral_id, Referral.status == PENDING)
            .values(due_at=due_at)
        )

    # -- reading -------------------------------------------------------------------------------
    async def of_inviter(
        self, session: AsyncSession, member_id: int, limit: int = 20
    ) -> tuple[Tally, list[ReferralRow]]:
        """A member's referrals: how many of each kind, and the latest ``limit``."""
        counts = await session.execute(
            select(Referral.status, func.count())
            .where(Referral.inviter_member_id == member_id)
            .group_by(Referral.status)
        )
        by = Counter({status: int(n) for status, n in counts.all()})
        rows = await session.execute(
            select(Referral, Member.display_name)
            .join(Member, Member.id == Referral.newcomer_member_id)
            .where(Referral.inviter_member_id == member_id)
            .order_by(Referral.joined_at.desc(), Referral.id.desc())
            .limit(limit)
        )
        listed = [
            ReferralRow(r.id, r.status, r.reason, r.joined_at, name, r.inviter_points)
            for r, name in rows.all()
        ]
        return Tally(by[PENDING], by[COUNTED], by[CANCELLED], by[VOID]), listed

    async def top(
        self,
        session: AsyncSession,
        community_id: int,
        since: datetime | None = None,
        limit: int = 10,
    ) -> list[tuple[MemberInfo, int]]:
        """Inviters by counted referrals (settled since ``since``), members who left hidden."""
        counted = func.count(Referral.id)
        query = (
            select(Member, counted)
            .join(Referral, Referral.inviter_member_id == Member.id)
            .where(
                Referral.community_id == community_id,
                Referral.status == COUNTED,
                Member.left_at.is_(None),
            )
            .group_by(Member.id)
            .order_by(counted.desc(), Member.id)
            .limit(limit)
        )
        if since is not None:
            query = query.where(Referral.settled_at >= since)
        rows = await session.execute(query)
        return [(MemberInfo.of(m), int(n)) for m, n in rows.all()]

    async def unknown_since(self, session: AsyncSession, community_id: int, since: datetime) -> int:
        """Joins since ``since`` nobody could be credited with for certain."""
        found = await session.execute(
            select(func.count())
            .select_from(Referral)
            .where(
                Referral.community_id == community_id,
                Referral.status == UNKNOWN,
                Referral.joined_at >= since,
            )
        )
        return int(found.scalar_one())

    async def kept_after(
        self, session: AsyncSession, community_id: int, now: datetime, days: int = 30
    ) -> list[Kept]:
        """For the digest: by inviter, their referred joins at least ``days`` old (void and
        unknown ones aside), and how many of those newcomers are still here. Members who left
        are still shown here: it is what operators measure, not a leaderboard."""
        inviter = aliased(Member)
        rows = await self._kept(
            session,
            select(inviter.id, inviter.display_name).join(
                inviter, inviter.id == Referral.inviter_member_id
            ),
            (inviter.id, inviter.display_name),
            community_id,
            now - timedelta(days=days),
        )
        return [Kept(int(i), name, int(n), int(k or 0)) for i, name, n, k in rows]

    async def kept_by_link(
        self, session: AsyncSession, community_id: int, now: datetime, days: int = 30
    ) -> list[KeptLink]:
        """``kept_after`` by link (its name as the platform shows it, and whose it is)."""
        rows = await self._kept(
            session,
            select(ReferralLink.member_id, ReferralLink.name).join(
                ReferralLink, ReferralLink.id == Referral.link_id
            ),
            (ReferralLink.id, ReferralLink.member_id, ReferralLink.name),
            community_id,
            now - timedelta(days=days),
        )
        return [KeptLink(int(m), name, int(n), int(k or 0)) for m, name, n, k in rows]

    async def _kept(
        self,
        session: AsyncSession,
        query: Select[Any],
        group: tuple[Any, ...],
        community_id: int,
        until: datetime,
    ) -> list[Any]:
        """``query``'s columns, then per ``group`` the referred joins up to ``until`` and how
        many of those newcomers are still here, most joins first."""
        newcomer = aliased(Member)
        joined = func.count(Referral.id)
        rows = await session.execute(
            query.add_columns(joined, func.sum(case((newcomer.left_at.is_(None), 1), else_=0)))
            .join(newcomer, newcomer.id == Referral.newcomer_member_id)
            .where(
                Referral.community_id == community_id,
                Referral.status.in_((PENDING, COUNTED, CANCELLED)),
                Referral.joined_at <= until,
            )
            .group_by(*group)
            .order_by(joined.desc(), *group)
        )
        return list(rows.all())

    async def joined_since(
        self, session: AsyncSession, community_id: int, since: datetime
    ) -> tuple[int, int]:
        """Joins since ``since``: through a member's link (void ones aside), and ones nobody
        could be credited with for certain (``unknown``)."""
        found = await session.execute(
            select(
                func.count().filter(Referral.status.in_((PENDING, COUNTED, CANCELLED))),
                func.count().filter(Referral.status == UNKNOWN),
            ).where(Referral.community_id == community_id, Referral.joined_at >= since)
        )
        referred, unknown = found.one()
        return int(referred or 0), int(unknown or 0)

    async def burst(
        self,
        session: AsyncSession,
        link_id: int,
        now: datetime,
        *,
        joins: int,
        window: timedelta = timedelta(hours=1),
    ) -> Burst | None:
        """The busiest ``window`` of joins through a link in the last day, when it had at
        least ``joins`` and most of those newcomers are already gone (a farm of throwaway
        accounts looks like this); ``None`` otherwise. Linear in the day's joins."""
        rows = await session.execute(
            select(Referral.joined_at, Member.left_at)
            .join(Member, Member.id == Referral.newcomer_member_id)
            .where(Referral.link_id == link_id, Referral.joined_at >= now - timedelta(days=1))
            .order_by(Referral.joined_at)
        )
        found = rows.all()
        best: tuple[int, int] | None = None
        start = gone = 0
        for end, (joined_at, left_at) in enumerate(found):
            gone += left_at is not None
            while found[start][0] < joined_at - window:
                gone -= found[start][1] is not None
                start += 1
            size = end - start + 1
            if size >= joins and gone * 2 > size and (best is None or size > best[0]):
                best = (size, gone)
        return Burst(*best) if best is not None else None

    async def flag(self, session: AsyncSession, link_id: int, now: datetime) -> bool:
        """Mark a link suspicious: ``True`` once a day at most (then its moderators are told)."""
        done = await session.execute(
            update(ReferralLink)
            .where(
                ReferralLink.id == link_id,
                or_(
                    ReferralLink.flagged_at.is_(None),
                    ReferralLink.flagged_at <= now - timedelta(days=1),
                ),
            )
            .values(flagged_at=now)
        )
        return (done.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def seen_before(
        self, session: AsyncSession, community_id: int, newcomer_member_id: int
    ) -> bool:
        """Whether the newcomer already has a join on record here."""
        found = await session.execute(
            select(Referral.id).where(
                and_(
                    Referral.community_id == community_id,
                    Referral.newcomer_member_id == newcomer_member_id,
                )
            )
        )
        return found.first() is not None
