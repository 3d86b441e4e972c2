"""Insights capture (社群运营监测): activity per member per local day, joins and leaves per
community per day, and who opted out of being named.

Counts only, never a message's text. Rows are written by batched upserts (``add_up``:
``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``), so a flush adds to what is there
(two processes, or two flushes, add up; none overwrites another), and a member costs at most
one row write per flush. On PostgreSQL one statement per table takes the rows sorted by key,
so two transactions upserting overlapping rows lock them in one order (no deadlock); SQLite
has one writer at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, compress
from operator import itemgetter, not_
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Table, delete, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import PLATFORM_ID_LEN, Base
from storage.communities import Community
from storage.db import Database
from storage.members import Member

__all__ = [
    "COUNTERS",
    "FILLFACTOR",
    "LINK_LEN",
    "InsightMemberDay",
    "InsightMovement",
    "InsightOptOut",
    "InsightRepo",
    "MemberDay",
    "Movement",
    "add_up",
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
#: How full PostgreSQL fills the pages of rows that flushes add to (migration 0034): the room
#: left lets a row be updated in place, no index touched (a flush in half the time).
FILLFACTOR = 70
#: Rows per statement: 16 parameters a row stays well under both dialects' limit (32,766).
PAGE = 1000


_TYPE_NAMES: dict[tuple[str, str], str] = {}
_POSTGRES = postgresql.dialect()


def _type_name(table: Table, column: str) -> str:
    """A column's type as PostgreSQL names it, compiled once (SQLAlchemy's compiler runs in
    Python; a flush asks for every column it sends)."""
    key = (table.name, column)
    name = _TYPE_NAMES.get(key)
    if name is None:
        name = _TYPE_NAMES[key] = table.c[column].type.compile(dialect=_POSTGRES)
    return name


def _as_text(values: Sequence[Any]) -> str | None:
    """A column of whole numbers or of days as one comma-separated text (``None`` for any
    other column: text, which may hold a comma, or a column with a ``None``)."""
    kinds = set(map(type, values))  # in C: a flush's columns are long
    if kinds == {int}:
        return ",".join(map(str, values))
    if kinds == {date}:
        return ",".join(map(_isos(values).__getitem__, values))
    return None


def _isos(days: Iterable[date]) -> dict[date, str]:
    """Each distinct day's ISO text, made once: a flush's hundreds of rows fall on a day or
    two, and ``date.isoformat`` per row was a fifth of a flush's statement building."""
    return {day: day.isoformat() for day in set(days)}


async def add_up(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    key: Sequence[str],
    added: Sequence[str],
) -> None:
    """``INSERT INTO table (columns) ... ON CONFLICT (key) DO UPDATE SET c = table.c +
    excluded.c`` for each ``added`` column, as SQL of our own: SQLAlchemy's parameter handling
    costs about as much again as the database's own work per row, and a flush must not make
    the inbound path costlier than it needs (``bench.inbound --capture-cost``).

    On PostgreSQL the rows go as one array per column (``unnest``): one statement text
    whatever the row count, so asyncpg prepares it once and the server plans it once,
    instead of a new statement of thousands of parameters per flush. On SQLite, pages of
    ``PAGE`` rows of ``VALUES``."""
    if not rows:
        return
    connection = await session.connection()
    name = table.name
    dialect = connection.dialect
    if dialect.name == "postgresql":
        statement, params = postgres_upsert(table, columns, rows, key=key, added=added)
        await connection.exec_driver_sql(statement, params)
        return
    for statement, params in sqlite_upserts(name, columns, rows, key=key, added=added):
        await connection.exec_driver_sql(statement, params)


def postgres_upsert(
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    key: Sequence[str],
    added: Sequence[str],
    first: int = 1,
) -> tuple[str, tuple[Any, ...]]:
    """``add_up``'s statement for PostgreSQL (``$n`` parameters from ``$first``), with its
    parameters: run by ``add_up`` on a session's connection, or on a plain one as a part of
    one statement (``storage.insight_tally``)."""
    name = table.name
    # Rows in key order: two flushes at once lock their rows in the same order.
    rows = sorted(rows, key=itemgetter(*(columns.index(k) for k in key)))
    by_name = dict(zip(columns, zip(*rows, strict=True), strict=True))
    # Only the counters some row changes (a flush of chatter: messages alone), as on
    # SQLite: every other column is sent, encoded and decoded for nothing.
    changed = [c for c in added if any(by_name[c])] or [added[0]]
    sent = [c for c in columns if c not in added or c in changed]
    sums = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in changed)
    tail = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sums}"
    arrays, by_column = [], []
    for n, (column, values) in enumerate(((c, by_name[c]) for c in sent), start=first):
        kind = _type_name(table, column)
        text = _as_text(values)
        if text is None:
            arrays.append(f"${n}::{kind}[]")
            by_column.append(list(values))
        else:
            # Whole numbers and days as one text the server splits: asyncpg encodes an
            # array element by element, asking each (in Python) whether it is a sequence
            # itself, most of a flush's CPU here.
            arrays.append(f"string_to_array(${n}, ',')::{kind}[]")
            by_column.append(text)
    statement = f"INSERT INTO {name} ({', '.join(sent)}) SELECT * FROM unnest({', '.join(arrays)})"
    return statement + tail, tuple(by_column)


def sqlite_upserts(
    name: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    key: Sequence[str],
    added: Sequence[str],
) -> list[tuple[str, tuple[Any, ...]]]:
    """``add_up``'s statements for SQLite, with their parameters (run by ``add_up`` on a
    session's connection, or in one call on the event loop's own, ``storage.insight_tally``).

    SQLite has one writer at a time (no lock order to keep across statements): rows go by
    which counters they change, most rows one or two of sixteen, so a row binds and updates
    only those (a third cheaper for a flush of plain chatter). Parameters are gathered in C
    (``itemgetter``, ``chain``): a flush of chatter is hundreds of rows."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if not rows:
        return statements
    at = {column: position for position, column in enumerate(columns)}
    kept = [at[column] for column in columns if column not in added]
    counted = [at[column] for column in added]
    shapes = _shapes(rows, counted)
    for changed, same in shapes.items():
        positions = [*kept, *changed]
        width = len(positions)
        day = positions.index(at["day"])  # every table added up here has a day
        names = ", ".join(columns[position] for position in positions)
        sums = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in (columns[p] for p in changed))
        head = f"INSERT INTO {name} ({names}) VALUES "
        tail = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sums}"
        gather = itemgetter(*positions)
        for start in range(0, len(same), PAGE):
            page = same[start : start + PAGE]
            params = list(chain.from_iterable(map(gather, page)))
            # As SQLAlchemy's Date keeps a date: its ISO text.
            days = params[day::width]
            params[day::width] = map(_isos(days).__getitem__, days)
            values = ",".join(["(" + ",".join("?" * width) + ")"] * len(page))
            statements.append((head + values + tail, tuple(params)))

    return statements


def _shapes(
    rows: list[tuple[Any, ...]], counted: list[int]
) -> dict[tuple[int, ...], list[tuple[Any, ...]]]:
    """Rows grouped by the counters (positions in ``counted``) they change; a row of zeros
    still makes its row exist, adding 0 to the first counter. The rows that change none but
    the first (a flush of chatter: most or all) are told apart in C, no Python step per row;
    only the others are looked at one by one."""
    first = counted[0]
    if len(counted) == 1:
        return {(first,): rows}
    others = itemgetter(*counted[1:]) if len(counted) > 2 else lambda row: (row[counted[1]],)
    changes_others = list(map(any, map(others, rows)))
    shapes: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
    plain = list(compress(rows, map(not_, changes_others)))
    if plain:
        shapes[(first,)] = plain
    if len(plain) < len(rows):
        pick = itemgetter(*counted)
        for row in compress(rows, changes_others):
            changed = tuple(compress(counted, pick(row)))  # never empty: another counter moved
            found = shapes.get(changed)
            if found is None:
                shapes[changed] = [row]
            else:
                found.append(row)
    return shapes


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default="0")


class InsightMemberDay(Base):
    """One member's activity on one local day of their community (its zone, its reset hour)."""

    __tablename__ = "insight_member_days"
    __table_args__ = (
        Index("ix_insight_member_days_community_day", "community_id", "day"),
        {"postgresql_with": {"fillfactor": FILLFACTOR}},
    )

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
    __table_args__ = ({"postgresql_with": {"fillfactor": FILLFACTOR}},)

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


#: The tally's tables as ``add_up`` writes them: table, columns in row order, key.
DAYS = (
    InsightMemberDay.__table__,
    ("member_id", "day", "community_id", *COUNTERS),
    ("member_id", "day"),
)
MOVEMENTS = (
    InsightMovement.__table__,
    ("community_id", "day", "direction", "how", "link", "n"),
    ("community_id", "day", "direction", "how", "link"),
)


def merged_days(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows ``(member_id, day, community_id, *counts)`` with each key once (one statement
    may not touch a row twice on PostgreSQL): the counts of a key given twice summed."""
    if len({(row[0], row[1]) for row in rows}) == len(rows):  # most flushes: each key once
        return rows
    merged: dict[tuple[int, date], tuple[Any, ...]] = {}
    for row in rows:
        key = (row[0], row[1])
        found = merged.get(key)
        merged[key] = (
            row if found is None else (*row[:3], *map(sum, zip(found[3:], row[3:], strict=True)))
        )
    return list(merged.values())


def merged_movements(movements: Sequence[Movement]) -> list[tuple[Any, ...]]:
    """Movements as rows, each key once (its counts summed), in key order."""
    moved: dict[tuple[int, date, str, str, str], int] = {}
    for move in movements:
        key = (move.community_id, move.day, move.direction, move.how, move.link[:LINK_LEN])
        moved[key] = moved.get(key, 0) + move.n
    return [(*key, n) for key, n in sorted(moved.items())]


class InsightRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, session: AsyncSession, days: Sequence[MemberDay], movements: Sequence[Movement]
    ) -> None:
        """Add the counts: one upsert per table, each row once. Rows for the same key are
        summed first (one statement may not touch a row twice on PostgreSQL)."""
        await self.add_rows(
            session, [(d.member_id, d.day, d.community_id, *d.counts) for d in days], movements
        )

    async def add_rows(
        self,
        session: AsyncSession,
        rows: list[tuple[Any, ...]],
        movements: Sequence[Movement],
    ) -> None:
        """``add`` for rows already shaped ``(member_id, day, community_id, *counts)`` (a
        flush's: no object per row on the way)."""
        days_table, days_columns, days_key = DAYS
        await add_up(
            session, days_table, days_columns, merged_days(rows), key=days_key, added=COUNTERS
        )
        moves_table, moves_columns, moves_key = MOVEMENTS
        await add_up(
            session,
            moves_table,
            moves_columns,
            merged_movements(movements),
            key=moves_key,
            added=("n",),
        )

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
