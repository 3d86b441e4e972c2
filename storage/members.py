"""Members: upserted by one statement per event, so concurrent events never collide.

Every event names its sender, so ``see_many`` keeps the memberships it wrote in a bounded
in-memory cache: a member written less than ``REFRESH`` ago whose name and username have not
changed is answered from memory without a statement, and their activity (``last_active_at``)
is stamped at most every ``REFRESH`` (so it may be up to that much behind their latest
message). Any other write to ``members`` or ``communities`` in this process empties the cache
(``Database.watch``); a join or leave (``record``) forgets that member; entries are filled in
only after their transaction committed; ``REFRESH`` bounds how long a change made by another
process can go unseen.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    bindparam,
    false,
    func,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.dml import Insert

from storage.base import NAME_LEN, PLATFORM_ID_LEN, Base, Id
from storage.db import Database
from storage.known import KnownRows, cached_upsert
from storage.text import clip

__all__ = ["Member", "MemberInfo", "MemberRepo", "SeenSender", "Sighting", "name_key"]


class Member(Base):
    """A platform account in one community, with the dates the bot itself recorded."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("community_id", "platform_user_id"),
        Index("ix_members_community_username_key", "community_id", "username_key"),
        Index("ix_members_community_name_key", "community_id", "name_key"),
        Index("ix_members_birthday", "birthday_month", "birthday_day"),
        Index("ix_members_joined_at", "joined_at"),
        Index("ix_members_first_seen_at", "first_seen_at"),
        Index("ix_members_person_id", "person_id"),
        Index("ix_members_platform_user_id", "platform_user_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    platform_user_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    display_name: Mapped[str] = mapped_column(String(NAME_LEN))
    username: Mapped[str | None] = mapped_column(String(NAME_LEN))
    #: Case-folded copies for lookups by name (SQLite's lower() only folds ASCII).
    name_key: Mapped[str] = mapped_column(String(NAME_LEN))
    username_key: Mapped[str | None] = mapped_column(String(NAME_LEN))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_active_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year_public: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Shown in ``/birthdays`` (members may hide themselves; they are still greeted).
    birthday_listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: Exempt from the automatic filters (``/approve``).
    approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


def name_key(name: str) -> str:
    """The form names are compared in: Unicode case folding, NFKC, outer spaces removed."""
    return unicodedata.normalize("NFKC", name).casefold().strip()[:NAME_LEN]


@dataclass(frozen=True, slots=True)
class MemberInfo:
    id: int
    community_id: int
    platform_user_id: str
    display_name: str
    username: str | None
    is_bot: bool
    joined_at: datetime | None
    first_seen_at: datetime
    last_active_at: datetime | None
    left_at: datetime | None
    timezone: str | None
    approved: bool = False

    @classmethod
    def of(cls, row: Member) -> MemberInfo:
        return cls(
            id=row.id,
            community_id=row.community_id,
            platform_user_id=row.platform_user_id,
            display_name=row.display_name,
            username=row.username,
            is_bot=row.is_bot,
            joined_at=row.joined_at,
            first_seen_at=row.first_seen_at,
            last_active_at=row.last_active_at,
            left_at=row.left_at,
            timezone=row.timezone,
            approved=row.approved,
        )

    @property
    def member_since(self) -> datetime:
        """The join date the bot recorded, or when it first saw the member."""
        return self.joined_at or self.first_seen_at


#: A sender as ``MemberRepo.known_many`` takes it: (community id, platform user id, display
#: name, username, active).
SeenSender = tuple[int, str, str, str | None, bool]


@dataclass(frozen=True, slots=True)
class Sighting:
    """A sender seen in a community (``active``: they wrote or pressed something)."""

    community_id: int
    platform_user_id: str
    display_name: str
    username: str | None
    is_bot: bool
    active: bool


_INFO_FIELDS = tuple(field.name for field in fields(MemberInfo))
#: What a sighting refreshes on a known member: how they are named.
_NAMES = ("display_name", "name_key", "username", "username_key")
_INSERTED = (
    "community_id",
    "platform_user_id",
    "display_name",
    "name_key",
    "username",
    "username_key",
    "is_bot",
    "joined_at",
    "first_seen_at",
    "last_active_at",
    "left_at",
    "birthday_year_public",
)


#: How long a membership the bot wrote is answered from memory before it is written again,
#: and so how far behind a member's latest message ``last_active_at`` may be.
REFRESH = timedelta(minutes=5)
#: Memberships kept in memory (the least recently seen go first): about 0.8 KB each, so
#: 16 MB at most. Only members who speak again within ``REFRESH`` gain from it.
KNOWN_MEMBERS = 20_000


class MemberRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._statements: dict[tuple[bool, bool, bool], Insert] = {}
        #: (community id, platform user id) -> the membership as last written, and when.
        #: A community deleted takes its members: writes to ``communities`` count too.
        self.known: KnownRows[tuple[int, str], MemberInfo] = KnownRows(
            db, KNOWN_MEMBERS, refresh=REFRESH, watching=("members", "communities")
        )
        table = Member.__table__
        self._see_many = cached_upsert(
            self.db.insert(table),
            ("community_id", "platform_user_id"),
            lambda insert: {
                **{name: insert.excluded[name] for name in _NAMES},
                "last_active_at": func.coalesce(
                    insert.excluded.last_active_at, table.c.last_active_at
                ),
            },
            _INFO_FIELDS,
        )

    def _record_statement(self, active: bool, joining: bool, leaving: bool) -> Insert:
        """The upsert for one combination of flags, built once: events are the hot path."""
        key = (active, joining, leaving)
        statement = self._statements.get(key)
        if statement is None:
            table = Member.__table__

            def changes(insert: Insert) -> dict[str, Any]:
                changed: dict[str, Any] = {name: insert.excluded[name] for name in _NAMES}
                if active:
                    changed["last_active_at"] = insert.excluded.last_active_at
                if joining:
                    changed["joined_at"] = func.coalesce(
                        table.c.joined_at, insert.excluded.joined_at
                    )
                    changed["left_at"] = None
                if leaving:
                    changed["left_at"] = insert.excluded.left_at
                return changed

            # CACHED too: ``record`` forgets its own member.
            statement = cached_upsert(
                self.db.insert(table).values({name: bindparam(name) for name in _INSERTED}),
                ("community_id", "platform_user_id"),
                changes,
                _INFO_FIELDS,
            )
            self._statements[key] = statement
        return statement

    async def record(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        platform_user_id: str,
        display_name: str,
        username: str | None,
        is_bot: bool,
        now: datetime,
        active: bool = False,
        joined_at: datetime | None = None,
        left_at: datetime | None = None,
    ) -> MemberInfo:
        """Insert the member or refresh their name; stamp activity, a join or a leave.

        One statement, so concurrent events for the same member never collide. A join keeps
        the first join date the bot recorded (anniversaries count from it) and clears
        ``left_at``; a leave sets ``left_at``.
        """
        name = clip(display_name, NAME_LEN) or platform_user_id
        username = clip(username, NAME_LEN)
        statement = self._record_statement(active, joined_at is not None, left_at is not None)
        key = (community_id, clip(platform_user_id, PLATFORM_ID_LEN) or platform_user_id)
        self.known.forget(key)
        self.db.after_commit(session, lambda: self.known.forget(key))
        row = (
            await session.execute(
                statement,
                {
                    "community_id": community_id,
                    "platform_user_id": key[1],
                    "display_name": name,
                    "name_key": name_key(name),
                    "username": username,
                    "username_key": name_key(username) if username else None,
                    "is_bot": is_bot,
                    "joined_at": joined_at,
                    "first_seen_at": now,
                    "last_active_at": now if active else None,
                    "left_at": left_at,
                    "birthday_year_public": False,
                },
            )
        ).one()
        return MemberInfo(**row._mapping)

    async def see_many(
        self, session: AsyncSession, sightings: list[Sighting], now: datetime
    ) -> dict[tuple[int, str], MemberInfo]:
        """Record many senders in one statement: new members are inserted, known ones get
        their current name and, if they were active, ``last_active_at``. Members known
        unchanged in memory (see the module's docstring) need no statement at all.

        Joins and leaves are not sightings: they go through ``record``.
        """
        rows = self._rows(sightings, now)
        found = self.known.take(rows, now, _unchanged)
        if not rows:
            return found
        generation = self.db.generation
        written = []
        # Sorted: concurrent writers lock rows in the same order and cannot deadlock. Rows as
        # executemany parameters: compiled once, sent as batched multi-row VALUES.
        for row in await session.execute(self._see_many, [rows[key] for key in sorted(rows)]):
            info = MemberInfo(**row._mapping)
            found[(info.community_id, info.platform_user_id)] = info
            written.append(((info.community_id, info.platform_user_id), info))
        self.known.remember_after_commit(session, written, now, generation)
        return found

    def known_many(
        self, seen: Iterable[SeenSender], now: datetime
    ) -> dict[tuple[int, str], MemberInfo] | None:
        """What ``see_many`` would return when it needs no statement (every member known
        unchanged), without a session; ``None`` when one would have to be written.

        Senders come as plain tuples (community id, platform user id, display name,
        username, active), not ``Sighting`` rows: this runs for every sender of every page,
        and a tuple is hashed and unpacked in C."""
        found: dict[tuple[int, str], MemberInfo] = {}
        entries = self.known.entries
        for community_id, platform_user_id, name, username, active in set(seen):
            user_id = clip(platform_user_id, PLATFORM_ID_LEN) or platform_user_id
            key = (community_id, user_id)
            known = entries.get(key)
            if known is None:
                return None
            info, written_at = known
            display_name = clip(name, NAME_LEN) or user_id
            if not _still_current(
                info, written_at, display_name, clip(username, NAME_LEN), active, now
            ):
                return None
            found[key] = info
        return found

    @staticmethod
    def _rows(sightings: list[Sighting], now: datetime) -> dict[tuple[int, str], dict[str, Any]]:
        rows: dict[tuple[int, str], dict[str, Any]] = {}
        for seen in sightings:
            user_id = clip(seen.platform_user_id, PLATFORM_ID_LEN) or seen.platform_user_id
            key = (seen.community_id, user_id)
            name = clip(seen.display_name, NAME_LEN) or user_id
            username = clip(seen.username, NAME_LEN)
            was_active = rows.get(key, {}).get("last_active_at") is not None
            rows[key] = {
                "community_id": seen.community_id,
                "platform_user_id": user_id,
                "display_name": name,
                "name_key": name_key(name),
                "username": username,
                "username_key": name_key(username) if username else None,
                "is_bot": seen.is_bot,
                "joined_at": None,
                "first_seen_at": now,
                "last_active_at": now if (seen.active or was_active) else None,
                "left_at": None,
                "birthday_year_public": False,
            }
        return rows

    async def get(self, session: AsyncSession, member_id: int) -> MemberInfo | None:
        row = await session.get(Member, member_id)
        return MemberInfo.of(row) if row else None

    async def find(
        self, session: AsyncSession, community_id: int, platform_user_id: str
    ) -> MemberInfo | None:
        row = (
            await session.execute(
                select(Member).where(
                    Member.community_id == community_id,
                    Member.platform_user_id == platform_user_id,
                )
            )
        ).scalar_one_or_none()
        return MemberInfo.of(row) if row else None

    async def find_by_name(
        self, session: AsyncSession, community_id: int, name: str, *, include_left: bool = False
    ) -> list[MemberInfo]:
        """Current members called ``@username`` or by that exact display name (any case).

        Username matches win (they are unique on the platform); several display-name matches
        are all returned so the caller can ask which one was meant.
        """
        wanted = name_key(name.removeprefix("@"))
        if not wanted:
            return []
        here = Member.community_id == community_id
        if not include_left:
            here = here & Member.left_at.is_(None)
        for column in (Member.username_key, Member.name_key):
            rows = await session.execute(
                select(Member).where(here, column == wanted).order_by(Member.id)
            )
            found = [MemberInfo.of(row) for row in rows.scalars()]
            if found:
                return found
        return []

    async def set_approved(self, session: AsyncSession, member_id: int, approved: bool) -> None:
        await session.execute(
            update(Member).where(Member.id == member_id).values(approved=approved)
        )

    async def set_timezone(
        self, session: AsyncSession, member_id: int, timezone: str | None
    ) -> None:
        await session.execute(
            update(Member).where(Member.id == member_id).values(timezone=timezone)
        )


def _unchanged(info: MemberInfo, written_at: datetime, row: dict[str, Any], now: datetime) -> bool:
    """Whether writing ``row`` (a sighting) may be skipped (``_still_current``)."""
    return _still_current(
        info,
        written_at,
        row["display_name"],
        row["username"],
        row["last_active_at"] is not None,
        now,
    )


def _still_current(
    info: MemberInfo,
    written_at: datetime,
    display_name: str,
    username: str | None,
    active: bool,
    now: datetime,
) -> bool:
    """The known membership was written less than ``REFRESH`` ago under the same name and
    username, and if the sighting is activity, activity was stamped less than ``REFRESH`` ago
    too: a sighting would change nothing."""
    if not (timedelta(0) <= now - written_at < REFRESH):
        return False
    if info.display_name != display_name or info.username != username:
        return False
    if not active:
        return True
    active_at = info.last_active_at
    return active_at is not None and timedelta(0) <= now - active_at < REFRESH
