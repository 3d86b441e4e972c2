"""Communities: one row per (platform, chat id), registered on first sight.

Every event names its community, so ``ensure_many`` keeps the communities it wrote in a
bounded in-memory cache: a community written less than ``REFRESH`` ago, whose type and title
have not changed, is answered from memory without a statement. Any other write to the table in
this process (settings, persona, a migration, the bot removed) empties the cache
(``Database.watch``), entries are filled in only after their transaction committed, and
``REFRESH`` bounds how long a change made by another process can go unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    SmallInteger,
    String,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.dml import Insert

from storage.base import PLATFORM_ID_LEN, PLATFORM_LEN, TITLE_LEN, Base, Id
from storage.db import Database
from storage.known import KnownRows, cached_upsert
from storage.members import Member, MemberInfo
from storage.text import clip

__all__ = ["Community", "CommunityInfo", "CommunityRepo", "DueMember", "select_due"]


class Community(Base):
    """A group chat on one platform (or a private chat with the bot). Persona fields override config."""

    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    chat_type: Mapped[str] = mapped_column(String(16), default="group")
    title: Mapped[str | None] = mapped_column(String(TITLE_LEN))
    timezone: Mapped[str | None] = mapped_column(String(64))
    day_reset_hour: Mapped[int | None] = mapped_column(SmallInteger)
    persona_name: Mapped[str | None] = mapped_column(String(64))
    persona_tone: Mapped[str | None] = mapped_column(String(16))
    persona_locale: Mapped[str | None] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class CommunityInfo:
    id: int
    platform: str
    chat_id: str
    chat_type: str
    title: str | None
    timezone: str | None
    day_reset_hour: int | None
    persona_name: str | None
    persona_tone: str | None
    persona_locale: str | None
    settings: dict[str, Any]
    active: bool

    @classmethod
    def of(cls, row: Community) -> CommunityInfo:
        return cls(
            id=row.id,
            platform=row.platform,
            chat_id=row.chat_id,
            chat_type=row.chat_type,
            title=row.title,
            timezone=row.timezone,
            day_reset_hour=row.day_reset_hour,
            persona_name=row.persona_name,
            persona_tone=row.persona_tone,
            persona_locale=row.persona_locale,
            settings=dict(row.settings or {}),
            active=row.active,
        )


#: Persona fields an operator may override per community.
PERSONA_FIELDS = {"name": "persona_name", "tone": "persona_tone", "locale": "persona_locale"}


_INFO_FIELDS = tuple(field.name for field in fields(CommunityInfo))

#: How long a community the bot wrote is answered from memory before it is written again.
REFRESH = timedelta(minutes=5)
#: Communities kept in memory (the least recently seen go first).
KNOWN_COMMUNITIES = 10_000


@dataclass(frozen=True, slots=True)
class DueMember:
    """A row due for an action on a member (a gate timeout, a timed ban's lift): the row's
    id, where (the community's chat) and whom."""

    id: int
    community_id: int
    platform: str
    chat_id: str
    member_id: int
    platform_user_id: str
    display_name: str


def select_due(
    row_id: ColumnElement[int],
    community_id: ColumnElement[int],
    member_id: ColumnElement[int],
    *extra: ColumnElement[Any],
) -> Select[Any]:
    """The columns of ``DueMember`` (then ``extra``) for rows naming a community and a member."""
    return (
        select(
            row_id,
            Community.id,
            Community.platform,
            Community.chat_id,
            Member.id,
            Member.platform_user_id,
            Member.display_name,
            *extra,
        )
        .join(Community, Community.id == community_id)
        .join(Member, Member.id == member_id)
    )


class CommunityRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._statements: dict[bool, Insert] = {}
        #: (platform, chat id) -> the community as last written, and when.
        self.known: KnownRows[tuple[str, str], CommunityInfo] = KnownRows(
            db, KNOWN_COMMUNITIES, refresh=REFRESH, watching=("communities",)
        )
        table = Community.__table__
        self._ensure_many = cached_upsert(
            self.db.insert(table),
            ("platform", "chat_id"),
            lambda insert: {
                "chat_type": insert.excluded.chat_type,
                "title": func.coalesce(insert.excluded.title, table.c.title),
                "active": True,
            },
            _INFO_FIELDS,
        )

    def _ensure_statement(self, titled: bool) -> Insert:
        statement = self._statements.get(titled)
        if statement is None:
            table = Community.__table__
            names = ("platform", "chat_id", "chat_type", "title", "settings", "active")
            insert = self.db.insert(table).values(
                {name: bindparam(name) for name in (*names, "created_at", "updated_at")}
            )
            refreshed: dict[str, Any] = {"chat_type": insert.excluded.chat_type, "active": True}
            if titled:
                refreshed["title"] = insert.excluded.title
            statement = insert.on_conflict_do_update(
                index_elements=[table.c.platform, table.c.chat_id], set_=refreshed
            ).returning(*(table.c[name] for name in _INFO_FIELDS))
            self._statements[titled] = statement
        return statement

    async def ensure(
        self,
        session: AsyncSession,
        *,
        platform: str,
        chat_id: str,
        chat_type: str,
        title: str | None,
        now: datetime,
    ) -> CommunityInfo:
        """Register the chat or refresh its title, in one statement (safe under concurrency)."""
        title = clip(title, TITLE_LEN)
        row = (
            await session.execute(
                self._ensure_statement(title is not None),
                {
                    "platform": platform,
                    "chat_id": clip(chat_id, PLATFORM_ID_LEN),
                    "chat_type": chat_type,
                    "title": title,
                    "settings": {},
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        ).one()
        return CommunityInfo(**{**row._mapping, "settings": dict(row.settings or {})})

    async def ensure_many(
        self, session: AsyncSession, chats: list[tuple[str, str, str, str | None]], now: datetime
    ) -> dict[tuple[str, str], CommunityInfo]:
        """``ensure`` for many ``(platform, chat_id, chat_type, title)`` in one statement, or
        none when every one of them is known unchanged (written less than ``REFRESH`` ago)."""
        rows = self._rows(chats, now)
        found = self.known.take(rows, now, _unchanged)
        if not rows:
            return found
        generation = self.db.generation
        written = []
        # Sorted: concurrent writers lock rows in the same order and cannot deadlock.
        for row in await session.execute(self._ensure_many, [rows[key] for key in sorted(rows)]):
            info = CommunityInfo(**{**row._mapping, "settings": dict(row.settings or {})})
            found[(info.platform, info.chat_id)] = info
            written.append(((info.platform, info.chat_id), info))
        self.known.remember_after_commit(session, written, now, generation)
        return found

    def known_many(
        self, chats: list[tuple[str, str, str, str | None]], now: datetime
    ) -> dict[tuple[str, str], CommunityInfo] | None:
        """What ``ensure_many`` would return when it needs no statement (every community
        known unchanged), without a session; ``None`` when one would have to be written."""
        return self.known.peek_all(chats, _probe, now, _unchanged)

    @staticmethod
    def _rows(
        chats: list[tuple[str, str, str, str | None]], now: datetime
    ) -> dict[tuple[str, str], dict[str, Any]]:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for platform, chat_id, chat_type, title in chats:
            key = (platform, clip(chat_id, PLATFORM_ID_LEN) or chat_id)
            previous = rows.get(key, {})
            rows[key] = {
                "platform": platform,
                "chat_id": key[1],
                "chat_type": chat_type,
                "title": clip(title, TITLE_LEN) or previous.get("title"),
                "settings": {},
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        return rows

    async def homes(
        self, session: AsyncSession, platform: str, platform_user_id: str
    ) -> list[tuple[CommunityInfo, MemberInfo]]:
        """The groups on ``platform`` this account is a member of (not left, the bot still
        there), at most 20: where something said in private may belong."""
        rows = await session.execute(
            select(Community, Member)
            .join(Member, Member.community_id == Community.id)
            .where(
                Community.platform == platform,
                Community.active.is_(True),
                Community.chat_type != "private",
                Member.platform_user_id == platform_user_id,
                Member.left_at.is_(None),
            )
            .order_by(Community.id)
            .limit(20)
        )
        return [(CommunityInfo.of(c), MemberInfo.of(m)) for c, m in rows.all()]

    async def get(self, session: AsyncSession, community_id: int) -> CommunityInfo | None:
        row = (
            await session.execute(
                select(Community)
                .where(Community.id == community_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        return CommunityInfo.of(row) if row else None

    async def find(
        self, session: AsyncSession, platform: str, chat_id: str
    ) -> CommunityInfo | None:
        row = (
            await session.execute(
                select(Community).where(
                    Community.platform == platform, Community.chat_id == chat_id
                )
            )
        ).scalar_one_or_none()
        return CommunityInfo.of(row) if row else None

    async def set_active(
        self, session: AsyncSession, community_id: int, active: bool, now: datetime
    ) -> None:
        await session.execute(
            update(Community)
            .where(Community.id == community_id)
            .values(active=active, updated_at=now)
        )

    async def migrate(
        self,
        session: AsyncSession,
        platform: str,
        old_chat_id: str,
        new_chat_id: str,
        now: datetime,
    ) -> CommunityInfo | None:
        """Move a community to its new chat id, keeping its members, roles and history.

        If events from the new id arrived first, the bot already registered a second community
        there: its members the old one does not know move over, the rest of it is dropped
        (the old community's rows carry the history).
        """
        old = await self.find(session, platform, old_chat_id)
        if old is None:
            return None
        new = await self.find(session, platform, new_chat_id)
        if new is not None:
            known = select(Member.platform_user_id).where(Member.community_id == old.id)
            await session.execute(
                update(Member)
                .where(Member.community_id == new.id, Member.platform_user_id.not_in(known))
                .values(community_id=old.id)
            )
            await session.execute(delete(Community).where(Community.id == new.id))
        await session.execute(
            update(Community)
            .where(Community.id == old.id)
            .values(chat_id=new_chat_id, chat_type="group", updated_at=now)
        )
        return await self.get(session, old.id)

    async def set_setting(
        self, session: AsyncSession, community_id: int, key: str, value: Any, now: datetime
    ) -> None:
        """Set one key of the community's settings (``None`` removes it)."""

        def change(settings: dict[str, Any]) -> None:
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value

        await self._change_settings(session, community_id, change, now)

    async def _change_settings(
        self,
        session: AsyncSession,
        community_id: int,
        change: Callable[[dict[str, Any]], None],
        now: datetime,
    ) -> None:
        """Apply ``change`` to the community's settings, the row locked meanwhile."""
        row = (
            await session.execute(
                select(Community).where(Community.id == community_id).with_for_update()
            )
        ).scalar_one()
        settings = dict(row.settings or {})
        change(settings)
        await session.execute(
            update(Community)
            .where(Community.id == community_id)
            .values(settings=settings, updated_at=now)
        )

    async def set_override(
        self,
        session: AsyncSession,
        community_id: int,
        section: str,
        key: str,
        value: Any,
        now: datetime,
    ) -> None:
        """Override one key of a config section for this community: its namespace in the
        settings (``{"gates": {"mode": "captcha"}}``), read back by ``ctx.settings_of``.
        ``None`` removes the override (the configured value applies again)."""

        def change(settings: dict[str, Any]) -> None:
            namespace = dict(settings.get(section) or {})
            if value is None:
                namespace.pop(key, None)
            else:
                namespace[key] = value
            if namespace:
                settings[section] = namespace
            else:
                settings.pop(section, None)

        await self._change_settings(session, community_id, change, now)

    async def replace_overrides(
        self,
        session: AsyncSession,
        community_id: int,
        sections: Collection[str],
        overrides: Mapping[str, Mapping[str, Any]],
        now: datetime,
    ) -> None:
        """Replace the community's namespaces of ``sections`` by ``overrides`` (a section left
        out of ``overrides`` loses its namespace; other keys of the settings stay)."""

        def change(settings: dict[str, Any]) -> None:
            for section in sections:
                settings.pop(section, None)
            settings.update({k: dict(v) for k, v in overrides.items() if v})

        await self._change_settings(session, community_id, change, now)

    async def set_persona(
        self, session: AsyncSession, community_id: int, field: str, value: str | None, now: datetime
    ) -> None:
        """Override one persona field (``name``, ``tone`` or ``locale``); ``None`` resets it."""
        column = PERSONA_FIELDS[field]
        await session.execute(
            update(Community)
            .where(Community.id == community_id)
            .values({column: value, "updated_at": now})
        )


def _probe(chat: tuple[str, str, str, str | None]) -> tuple[tuple[str, str], dict[str, Any]]:
    """A chat's key and what ``_unchanged`` reads of its row."""
    platform, chat_id, chat_type, title = chat
    key = (platform, clip(chat_id, PLATFORM_ID_LEN) or chat_id)
    return key, {"chat_type": chat_type, "title": clip(title, TITLE_LEN)}


def _unchanged(
    info: CommunityInfo, written_at: datetime, row: dict[str, Any], now: datetime
) -> bool:
    """Whether writing ``row`` would change nothing the bot reads: the known community was
    written less than ``REFRESH`` ago, is active, and keeps its type and title."""
    return (
        timedelta(0) <= now - written_at < REFRESH
        and info.active
        and info.chat_type == row["chat_type"]
        and (row["title"] is None or row["title"] == info.title)
    )
