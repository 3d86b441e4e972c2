"""Insights capture (社群运营监测): activity per member per local day, joins and leaves per
community per day, and who opted out of being named.

Counts only, never a message's text. Rows are written by batched upserts: one multi-row
``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` per table and flush (in pages of
up to 1,000 rows), so a flush adds to what is there
(two processes, or two flushes, add up; none overwrites another), and a member costs at most
one row write per flush. Rows are sorted by key, so two PostgreSQL
transactions upserting overlapping rows lock them in one order (no deadlock).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import PLATFORM_ID_LEN, Base
from storage.communities import Community
from storage.db import Database
from storage.members import Member

__all__ = [
    "COUNTERS",
    "LINK_LEN",
    "InsightMemberDay",
    "InsightMovement",
    "InsightOptOut",
    "InsightRepo",
    "MemberDay",
    "Movement",
]

#: What is counted per member and local day, in this order everywhere (tally, rows, tests).
#: ``reactions`` are the reactions a member gave, ``reactions_received`` those given to their
#: messages (when the platform or the bot's memory of recent messages names the author);
#: ``attendances`` are check-ins at events (``/here``); ``questions`` asked and ``answers``
#: given (``/ask``, ``/answer``) and ``feedback`` filed (``/feedback``). Counters that came
#: later (0022, 0026) close the row: the CSV export's earlier columns keep their places.
COUNTERS = (
    "messages",
    "replies_given",
    "replies_received",
    "links",
    "files",
    "reactions",
    "checkins",
    "grabs",
    "votes",
    "rsvps",
    "submissions",
    "reactions_received",
    "attendances",
    "questions",
    "answers",
    "feedback",
)
#: The longest invite-link name kept as a join's source.
LINK_LEN = 128
#: Rows per statement: 16 parameters a row stays well under both dialects' limit (32,766).
PAGE = 1000


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default="0")


class InsightMemberDay(Base):
    """One member's activity on one local day of their community (its zone, its reset hour)."""

    __tablename__ = "insight_member_days"
    __table_args__ = (Index("ix_insight_member_days_community_day", "community_id", "day"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    messages: Mapped[int] = _counter()
    replies_given: Mapped[int] = _counter()
    replies_received: Mapped[int] = _counter()
    links: Mapped[int] = _counter()
    files: Mapped[int] = _counter()
    reactions: Mapped[int] = _counter()
    checkins: Mapped[int] = _counter()
    grabs: Mapped[int] = _counter()
    votes: Mapped[int] = _counter()
    rsvps: Mapped[int] = _counter()
    submissions: Mapped[int] = _counter()
    reactions_received: Mapped[int] = _counter()
    attendances: Mapped[int] = _counter()
    questions: Mapped[int] = _counter()
    answers: Mapped[int] = _counter()
    feedback: Mapped[int] = _counter()


class InsightMovement(Base):
    """Joins (``direction`` ``join``) and leaves (``leave``) of a community on a local day, by
    how: ``link`` (an invite link, named in ``link``), ``request`` (a join request),
    ``added`` (someone added them), ``unknown`` (the platform did not say); ``left`` or
    ``removed`` for leaves."""

    __tablename__ = "insight_movements"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    how: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: The invite link's name (or URL) for ``link`` joins; empty otherwise.
    link: Mapped[str] = mapped_column(String(LINK_LEN), primary_key=True)
    n: Mapped[int] = _counter()


class InsightOptOut(Base):
    """A member who asked never to be named in reports (``/stats optout``): still counted in
    the community's totals."""

    __tablename__ = "insight_opt_outs"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class MemberDay:
    """Counts to add to one member's day (``counts`` in ``COUNTERS`` order)."""

    community_id: int
    member_id: int
    day: date
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Movement:
    """Joins or leaves to add to a community's day."""

    community_id: int
    day: date
    direction: str
    how: str
    link: str
    n: int


class InsightRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, session: AsyncSession, days: Sequence[MemberDay], movements: Sequence[Movement]
    ) -> None:
        """Add the counts: one upsert per table, each row once, in key order. Rows for the
        same key are summed first (one statement may not touch a row twice on PostgreSQL)."""
        merged: dict[tuple[int, date], list[int]] = {}
        communities: dict[int, int] = {}
        for row in days:
            into = merged.setdefault((row.member_id, row.day), [0] * len(COUNTERS))
            for position, value in enumerate(row.counts):
                into[position] += value
            communities[row.member_id] = row.community_id
        await self._upsert(
            session,
            InsightMemberDay.__tablename__,
            ("member_id", "day", "community_id", *COUNTERS),
            [(m, d, communities[m], *c) for (m, d), c in sorted(merged.items())],
            key=("member_id", "day"),
            added=COUNTERS,
        )
        moved: dict[tuple[int, date, str, str, str], int] = {}
        for move in movements:
            key = (move.community_id, move.day, move.direction, move.how, move.link[:LINK_LEN])
            moved[key] = moved.get(key, 0) + move.n
        await self._upsert(
            session,
            InsightMovement.__tablename__,
            ("community_id", "day", "direction", "how", "link", "n"),
            [(*key, n) for key, n in sorted(moved.items())],
            key=("community_id", "day", "direction", "how", "link"),
            added=("n",),
        )

    async def _upsert(
        self,
        session: AsyncSession,
        table: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        *,
        key: Sequence[str],
        added: Sequence[str],
    ) -> None:
        """``INSERT INTO table (columns) VALUES (...), (...) ON CONFLICT (key) DO UPDATE SET
        c = table.c + excluded.c`` for each ``added`` column, in pages of ``PAGE`` rows, sent as SQL of our own: SQLAlchemy's parameter handling costs
        about as much again as SQLite's own work per row (16 against 15 µs on this machine),
        and the flush must not make the inbound path costlier than it needs."""
        if not rows:
            return
        dollar = self.db.engine.dialect.paramstyle == "numeric_dollar"  # asyncpg: $1, $2...
        width = len(columns)
        day = columns.index("day")
        sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in added)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        tail = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sums}"
        connection = await session.connection()
        for start in range(0, len(rows), PAGE):
            page = rows[start : start + PAGE]
            params: list[Any] = []
            for row in page:
                params += row
                if not dollar:  # SQLite keeps a date as its ISO text (as SQLAlchemy's Date)
                    params[-width + day] = row[day].isoformat()
            if dollar:
                values = ",".join(
                    "(" + ",".join(f"${n * width + i}" for i in range(1, width + 1)) + ")"
                    for n in range(len(page))
                )
            else:
                values = ",".join(["(" + ",".join("?" * width) + ")"] * len(page))
            await connection.exec_driver_sql(head + values + tail, tuple(params))

    async def member_ids(
        self, session: AsyncSession, wanted: Iterable[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        """Member ids by (community id, platform user id); unknown accounts are left out."""
        wanted = set(wanted)
        if not wanted:
            return {}
        rows = await session.execute(
            select(Member.community_id, Member.platform_user_id, Member.id).where(
                Member.community_id.in_({c for c, _u in wanted}),
                Member.platform_user_id.in_({u[:PLATFORM_ID_LEN] for _c, u in wanted}),
            )
        )
        return {(c, u): int(i) for c, u, i in rows.all() if (c, u) in wanted}

    async def prune(self, session: AsyncSession, before: date) -> int:
        """Delete daily rows of days before ``before``; how many went."""
        gone = 0
        for model in (InsightMemberDay, InsightMovement):
            result = await session.execute(delete(model).where(model.day < before))  # type: ignore[attr-defined]
            gone += result.rowcount or 0  # type: ignore[attr-defined]
        return gone

    async def memberships(self, session: AsyncSession, platform: str, user_id: str) -> list[int]:
        """The account's memberships in communities (not private chats) on ``platform``."""
        rows = await session.execute(
            select(Member.id)
            .join(Community, Community.id == Member.community_id)
            .where(
                Community.platform == platform,
                Community.chat_type != "private",
                Member.platform_user_id == user_id[:PLATFORM_ID_LEN],
            )
            .order_by(Member.id)
        )
        return [int(i) for i in rows.scalars()]

    async def set_opted_out(
        self, session: AsyncSession, member_ids: Sequence[int], out: bool, now: datetime
    ) -> None:
        """Opt the members out of being named (kept once, from the first time) or back in."""
        if not member_ids:
            return
        if not out:
            await session.execute(
                delete(InsightOptOut).where(InsightOptOut.member_id.in_(member_ids))
            )
            return
        statement = self.db.insert(InsightOptOut.__table__).values(
            [{"member_id": m, "since": now} for m in sorted(set(member_ids))]
        )
        await session.execute(statement.on_conflict_do_nothing(index_elements=["member_id"]))

    async def opted_out(self, session: AsyncSession, community_id: int) -> set[int]:
        """Ids of the community's members who must never be named in a report."""
        rows = await session.execute(
            select(InsightOptOut.member_id)
            .join(Member, Member.id == InsightOptOut.member_id)
            .where(Member.community_id == community_id)
        )
        return {int(i) for i in rows.scalars()}
