"""Birthdays and join dates: what members told the bot, and the indexed lookups that find
today's greetings without scanning every member in Python."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.checkins import CheckIn
from storage.communities import Community
from storage.ledger import LedgerEntry, PointAccount
from storage.members import Member
from storage.persons import PERSONAL_FIELDS

__all__ = ["BirthdayRepo", "Celebrant", "MemberBirthday"]

PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class MemberBirthday:
    month: int | None
    day: int | None
    year: int | None
    year_public: bool
    listed: bool
    timezone: str | None


@dataclass(frozen=True, slots=True)
class Celebrant:
    """A current member with a birthday or a join date today somewhere, and where they are."""

    member_id: int
    community_id: int
    platform_user_id: str
    display_name: str
    month: int | None
    day: int | None
    year: int | None
    year_public: bool
    #: The member's own zone, else the community's (``None``: the configured default).
    timezone: str | None
    member_since: datetime


_COLUMNS = (
    Member.id,
    Member.community_id,
    Member.platform_user_id,
    Member.display_name,
    Member.birthday_month,
    Member.birthday_day,
    Member.birthday_year,
    Member.birthday_year_public,
    func.coalesce(Member.timezone, Community.timezone),
    func.coalesce(Member.joined_at, Member.first_seen_at),
)


def _celebrants(rows: Iterable[tuple]) -> list[Celebrant]:  # type: ignore[type-arg]
    return [
        Celebrant(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9])
        for r in rows
    ]


class BirthdayRepo:
    async def get(self, session: AsyncSession, member_id: int) -> MemberBirthday:
        row = (await session.execute(select(Member).where(Member.id == member_id))).scalar_one()
        return MemberBirthday(
            row.birthday_month,
            row.birthday_day,
            row.birthday_year,
            row.birthday_year_public,
            row.birthday_listed,
            row.timezone,
        )

    async def set(
        self,
        session: AsyncSession,
        member_id: int,
        *,
        month: int | None,
        day: int | None,
        year: int | None,
        year_public: bool,
    ) -> None:
        await session.execute(
            update(Member)
            .where(Member.id == member_id)
            .values(
                birthday_month=month,
                birthday_day=day,
                birthday_year=year,
                birthday_year_public=year_public,
            )
        )

    async def update(self, session: AsyncSession, member_id: int, values: dict[str, Any]) -> None:
        """Change what a member told the bot here (columns of ``persons.PERSONAL_FIELDS``)."""
        unknown = set(values) - set(PERSONAL_FIELDS)
        if unknown:
            raise ValueError(f"not a personal setting: {', '.join(sorted(unknown))}")
        await session.execute(update(Member).where(Member.id == member_id).values(**values))

    async def set_listed(self, session: AsyncSession, member_id: int, listed: bool) -> None:
        await session.execute(
            update(Member).where(Member.id == member_id).values(birthday_listed=listed)
        )

    async def on_days(
        self, session: AsyncSession, days: Iterable[tuple[int, int]]
    ) -> list[Celebrant]:
        """Current members (not bots) whose birthday is one of the (month, day) pairs: an
        ``OR`` of equalities, each answered by the (birthday_month, birthday_day) index (a
        row-value ``IN`` is not planned as well on SQLite)."""
        pairs = sorted(set(days))
        if not pairs:
            return []
        rows = await session.execute(
            select(*_COLUMNS)
            .join(Community, Community.id == Member.community_id)
            .where(
                or_(
                    *(and_(Member.birthday_month == m, Member.birthday_day == d) for m, d in pairs)
                ),
                Member.left_at.is_(None),
                Member.is_bot.is_(False),
                Community.active.is_(True),
                Community.chat_type != PRIVATE,  # a private chat is no community
            )
        )
        return _celebrants(rows.all())

    async def joined_within(
        self, session: AsyncSession, windows: Iterable[tuple[datetime, datetime]]
    ) -> list[Celebrant]:
        """Current members whose recorded join (or, without one, first sighting) falls in
        one of the windows: an ``OR`` of index ranges on each date (a ``coalesce`` of the two
        could use no index)."""
        ranges = list(windows)
        if not ranges:
            return []
        found: dict[int, Celebrant] = {}
        for column, unjoined in ((Member.joined_at, False), (Member.first_seen_at, True)):
            query = (
                select(*_COLUMNS)
                .join(Community, Community.id == Member.community_id)
                .where(
                    or_(*(and_(column >= start, column < end) for start, end in ranges)),
                    Member.left_at.is_(None),
                    Member.is_bot.is_(False),
                    Community.active.is_(True),
                    Community.chat_type != PRIVATE,  # a private chat is no community
                )
            )
            if unjoined:
                query = query.where(Member.joined_at.is_(None))
            for person in _celebrants((await session.execute(query)).all()):
                found[person.member_id] = person
        return list(found.values())

    async def of_community(self, session: AsyncSession, community_id: int) -> list[Celebrant]:
        """Members of a community who set a birthday and let it be listed."""
        rows = await session.execute(
            select(*_COLUMNS)
            .join(Community, Community.id == Member.community_id)
            .where(
                Member.community_id == community_id,
                Member.birthday_month.is_not(None),
                Member.birthday_listed.is_(True),
                Member.left_at.is_(None),
            )
        )
        return _celebrants(rows.all())

    async def members(self, session: AsyncSession, member_ids: Iterable[int]) -> list[Celebrant]:
        rows = await session.execute(
            select(*_COLUMNS)
            .join(Community, Community.id == Member.community_id)
            .where(Member.id.in_(list(member_ids)), Member.left_at.is_(None))
        )
        return _celebrants(rows.all())

    async def numbers(self, session: AsyncSession, member_id: int) -> tuple[int, int]:
        """(check-ins, points earned) of a member: their anniversary's figures."""
        checkins = await session.execute(
            select(func.count()).select_from(CheckIn).where(CheckIn.member_id == member_id)
        )
        earned = await session.execute(
            select(func.coalesce(func.sum(LedgerEntry.delta), 0))
            .join(PointAccount, PointAccount.id == LedgerEntry.account_id)
            .where(PointAccount.owner == f"m:{member_id}", LedgerEntry.delta > 0)
        )
        return int(checkins.scalar_one()), int(earned.scalar_one())
