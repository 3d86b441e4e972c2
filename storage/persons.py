"""Persons: what a member tells the bot about themselves in a private chat (birthday, time
zone), applied in every community they share with it.

The values live on the person and are copied onto each of the account's memberships in a
community (never onto the private chat's own row), so the birthday tick keeps reading the
indexed ``members`` columns. ``adopt`` gives them to a membership recorded later (a join).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    func,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import NAME_LEN, PLATFORM_ID_LEN, PLATFORM_LEN, Base, Id
from storage.communities import Community
from storage.db import Database
from storage.members import Member
from storage.text import clip

__all__ = ["PERSONAL_FIELDS", "Person", "PersonRepo", "PersonSettings"]


class Person(Base):
    """One human: what they told the bot about themselves in a private chat (birthday, time
    zone), which applies in every community they share with it.

    A person is made from the account that first told the bot something (``platform``,
    ``platform_user_id``); ``Member.person_id`` links that account's memberships (and may
    later link accounts on other platforms). The values are copied onto each linked
    membership, so the birthday tick keeps its indexed lookups on ``members``; a membership
    made later (a join) takes them when it is recorded.
    """

    __tablename__ = "persons"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(NAME_LEN))
    created_at: Mapped[datetime]
    platform: Mapped[str | None] = mapped_column(String(PLATFORM_LEN))
    platform_user_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year_public: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    birthday_listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None]
    #: When the account last sent ``/start`` privately (the bot may write to it: Telegram
    #: only writes to those who started it); cleared when the platform refuses a notice.
    reachable_at: Mapped[datetime | None]


#: What a person may tell the bot, by the column name it has on both ``persons`` and
#: ``members``.
PERSONAL_FIELDS = (
    "birthday_month",
    "birthday_day",
    "birthday_year",
    "birthday_year_public",
    "birthday_listed",
    "timezone",
)
PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class PersonSettings:
    id: int
    birthday_month: int | None
    birthday_day: int | None
    birthday_year: int | None
    birthday_year_public: bool
    birthday_listed: bool
    timezone: str | None

    @classmethod
    def of(cls, row: Person) -> PersonSettings:
        return cls(
            row.id,
            row.birthday_month,
            row.birthday_day,
            row.birthday_year,
            bool(row.birthday_year_public),
            bool(row.birthday_listed),
            row.timezone,
        )


def _communities(platform: str) -> Any:
    """The ids of the platform's communities (its group chats, not private chats)."""
    return select(Community.id).where(
        Community.platform == platform, Community.chat_type != PRIVATE
    )


class PersonRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def of_account(
        self, session: AsyncSession, platform: str, platform_user_id: str
    ) -> PersonSettings | None:
        row = (
            await session.execute(
                select(Person).where(
                    Person.platform == platform,
                    Person.platform_user_id == clip(platform_user_id, PLATFORM_ID_LEN),
                )
            )
        ).scalar_one_or_none()
        return PersonSettings.of(row) if row else None

    async def tell(
        self,
        session: AsyncSession,
        *,
        platform: str,
        platform_user_id: str,
        display_name: str,
        now: datetime,
        values: dict[str, Any],
    ) -> int:
        """Store ``values`` (columns of ``PERSONAL_FIELDS``) on the account's person, made
        if needed, and on every membership of the account in a community. Returns in how
        many communities the member is present now (0: it applies when they join one)."""
        unknown = set(values) - set(PERSONAL_FIELDS)
        if unknown:
            raise ValueError(f"not a personal setting: {', '.join(sorted(unknown))}")
        user_id = clip(platform_user_id, PLATFORM_ID_LEN) or platform_user_id
        await session.execute(
            self._new_person(platform, user_id, display_name, now).on_conflict_do_nothing(
                index_elements=["platform", "platform_user_id"]
            )
        )
        person_id = (
            await session.execute(
                select(Person.id).where(
                    Person.platform == platform, Person.platform_user_id == user_id
                )
            )
        ).scalar_one()
        await session.execute(
            update(Person).where(Person.id == person_id).values(**values, updated_at=now)
        )
        # Link the account's memberships (a private chat's row too: it is the same human).
        all_chats = select(Community.id).where(Community.platform == platform)
        await session.execute(
            update(Member)
            .where(Member.platform_user_id == user_id, Member.community_id.in_(all_chats))
            .values(person_id=person_id)
        )
        await session.execute(
            update(Member)
            .where(Member.person_id == person_id, Member.community_id.in_(_communities(platform)))
            .values(**values)
        )
        present = await session.execute(
            select(func.count())
            .select_from(Member)
            .join(Community, Community.id == Member.community_id)
            .where(
                Member.person_id == person_id,
                Member.left_at.is_(None),
                Community.chat_type != PRIVATE,
                Community.active.is_(True),
            )
        )
        return int(present.scalar_one())

    def _new_person(self, platform: str, user_id: str, display_name: str, now: datetime) -> Any:
        """An insert of the account's person (the caller says what a conflict does)."""
        return self.db.insert(Person.__table__).values(
            platform=platform,
            platform_user_id=user_id,
            display_name=clip(display_name, NAME_LEN),
            created_at=now,
        )

    async def mark_reachable(
        self, session: AsyncSession, platform: str, user: tuple[str, str], now: datetime
    ) -> None:
        """The account ``user`` (platform user id, display name) sent ``/start`` privately:
        the bot may write to it (Telegram writes only to those who started it). One
        statement; the person is made if needed."""
        user_id = clip(user[0], PLATFORM_ID_LEN) or user[0]
        statement = self._new_person(platform, user_id, user[1], now).values(reachable_at=now)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["platform", "platform_user_id"], set_={"reachable_at": now}
            )
        )

    async def mark_unreachable(
        self, session: AsyncSession, platform: str, platform_user_id: str
    ) -> None:
        """The platform refused a private message (blocked, never started, DMs closed)."""
        await session.execute(
            update(Person)
            .where(
                Person.platform == platform,
                Person.platform_user_id == clip(platform_user_id, PLATFORM_ID_LEN),
                Person.reachable_at.is_not(None),
            )
            .values(reachable_at=None)
        )

    async def reachable(self, session: AsyncSession, platform: str, platform_user_id: str) -> bool:
        """Whether the account started the bot privately and no notice was refused since: a
        feature may say "send me /start privately first" before promising a private notice."""
        found = await session.execute(
            select(Person.reachable_at).where(
                Person.platform == platform,
                Person.platform_user_id == clip(platform_user_id, PLATFORM_ID_LEN),
            )
        )
        return found.scalar_one_or_none() is not None

    async def adopt(self, session: AsyncSession, members: Iterable[tuple[str, int, str]]) -> int:
        """Give new memberships ``(platform, member id, platform user id)`` in a community
        what their person told the bot; memberships already linked keep their own values.
        Returns how many took them. One indexed query when nobody has a person."""
        wanted: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for platform, member_id, user_id in members:
            wanted[platform][user_id].append(member_id)
        adopted = 0
        for platform, by_user in wanted.items():
            persons = await session.execute(
                select(Person).where(
                    Person.platform == platform, Person.platform_user_id.in_(list(by_user))
                )
            )
            for person in persons.scalars():
                values = {name: getattr(person, name) for name in PERSONAL_FIELDS}
                assert person.platform_user_id is not None
                result = await session.execute(
                    update(Member)
                    .where(
                        Member.id.in_(by_user[person.platform_user_id]),
                        Member.person_id.is_(None),
                    )
                    .values(person_id=person.id, **values)
                )
                adopted += int(getattr(result, "rowcount", 0) or 0)
        return adopted
