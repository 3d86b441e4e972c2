"""Saved replies (notes, ``/save NAME TEXT``, read with ``/get NAME`` or ``#NAME``) and
automatic answers (``/autoreply add TRIGGER | REPLY``) of a community.

A note is keyed by its normalized name (NFKC, casefolded: the handler normalizes), unique per
community; saving an existing name replaces its text. Auto-replies are numbered per community
like FAQ entries: the next number is taken in the ``INSERT`` itself (``max + 1``) after the
community's row is locked on PostgreSQL (SQLite writers are serial), a unique
``(community_id, number)`` guards it, and a removed one keeps its row (``removed_at``) so its
number is never reused: "auto-reply 3" means one thing in old messages and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.communities import Community
from storage.db import Database

__all__ = [
    "NAME_LEN",
    "TEXT_LEN",
    "TRIGGER_LEN",
    "AutoReply",
    "AutoReplyKind",
    "AutoReplyRepo",
    "AutoReplyRow",
    "Note",
    "NoteRow",
    "NotesFullError",
    "NotesRepo",
]

#: The longest note name (after normalization) and note or reply text, in characters.
NAME_LEN = 32
TEXT_LEN = 2_000
#: The longest auto-reply trigger (a regex's limit in ``handlers.filtering`` is the same).
TRIGGER_LEN = 200

AutoReplyKind = Literal["exact", "contains", "regex"]


class NoteRow(Base):
    """One saved reply of a community, under its normalized name."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    text: Mapped[str] = mapped_column(String(TEXT_LEN))
    #: Shown only to operators (``/save NAME --admin TEXT``).
    admin_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The member who saved it last (``members.id``); kept when the member row goes.
    saved_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AutoReplyRow(Base):
    """One automatic answer of a community, numbered from 1 in the order added."""

    __tablename__ = "auto_replies"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_auto_replies_community_removed", "community_id", "removed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    #: ``exact`` (the whole message), ``contains`` (a word in it) or ``regex``.
    kind: Mapped[str] = mapped_column(String(8))
    trigger: Mapped[str] = mapped_column(String(TRIGGER_LEN))
    reply: Mapped[str] = mapped_column(String(TEXT_LEN))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class Note:
    """A note as read back: its normalized name, its text, and whether only operators see it."""

    name: str
    text: str
    admin_only: bool


@dataclass(frozen=True, slots=True)
class AutoReply:
    """An auto-reply as members see it: its number, trigger and reply."""

    number: int
    kind: AutoReplyKind
    trigger: str
    reply: str


class NotesFullError(Exception):
    """The community already keeps the most notes (or auto-replies) allowed; nothing changed."""


def _now(now: datetime | None) -> datetime:
    """Callers pass ``ctx.now``; the wall clock is only a fallback."""
    return now if now is not None else datetime.now(UTC)


def _check_text(text: str) -> None:
    if not 0 < len(text) <= TEXT_LEN:
        raise ValueError(f"a note or reply has 1 to {TEXT_LEN} characters")


async def _lock_community(db: Database, session: AsyncSession, community_id: int) -> None:
    """Serialize a community's writers on PostgreSQL (SQLite writers are serial already), so a
    cap counted next cannot be passed by two writers together."""
    if db.dialect == "postgresql":
        await session.execute(
            select(Community.id).where(Community.id == community_id).with_for_update()
        )


class NotesRepo:
    """The notes' verbs. Names come normalized and texts checked by the caller; a text past
    ``TEXT_LEN`` or a name past ``NAME_LEN`` is refused here with ``ValueError``, never cut."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(
        self,
        session: AsyncSession,
        community_id: int,
        name: str,
        text: str,
        *,
        admin_only: bool,
        saved_by: int | None,
        now: datetime | None = None,
        most: int | None = None,
    ) -> bool:
        """Save ``text`` under ``name``, replacing what was there. ``True`` when the note is
        new. With ``most``, ``NotesFullError`` when a new note would pass that many (counted
        after the community lock; replacing a note is always allowed)."""
        _check_text(text)
        if not 0 < len(name) <= NAME_LEN:
            raise ValueError(f"a note name has 1 to {NAME_LEN} characters")
        await _lock_community(self.db, session, community_id)
        stamp = _now(now)
        replaced = await session.execute(
            update(NoteRow)
            .where(NoteRow.community_id == community_id, NoteRow.name == name)
            .values(text=text, admin_only=admin_only, saved_by=saved_by, updated_at=stamp)
            .returning(NoteRow.id)
        )
        if replaced.first() is not None:
            return False
        if most is not None and await self.count(session, community_id) >= most:
            raise NotesFullError(most)
        await session.execute(
            insert(NoteRow).values(
                community_id=community_id,
                name=name,
                text=text,
                admin_only=admin_only,
                saved_by=saved_by,
                created_at=stamp,
                updated_at=stamp,
            )
        )
        return True

    async def get(self, session: AsyncSession, community_id: int, name: str) -> Note | None:
        """The note saved under ``name`` (normalized), if any."""
        row = (
            await session.execute(
                select(NoteRow.name, NoteRow.text, NoteRow.admin_only).where(
                    NoteRow.community_id == community_id, NoteRow.name == name
                )
            )
        ).first()
        return None if row is None else Note(row[0], row[1], bool(row[2]))

    async def all(self, session: AsyncSession, community_id: int) -> list[Note]:
        """The community's notes, by name."""
        rows = await session.execute(
            select(NoteRow.name, NoteRow.text, NoteRow.admin_only)
            .where(NoteRow.community_id == community_id)
            .order_by(NoteRow.name)
        )
        return [Note(n, t, bool(a)) for n, t, a in rows.all()]

    async def clear(self, session: AsyncSession, community_id: int, name: str) -> bool:
        """Delete the note ``name``; whether there was one (one ``DELETE``)."""
        gone = await session.execute(
            delete(NoteRow)
            .where(NoteRow.community_id == community_id, NoteRow.name == name)
            .returning(NoteRow.id)
        )
        return gone.first() is not None

    async def clear_all(self, session: AsyncSession, community_id: int) -> None:
        """Delete every note of the community (``/import`` replaces them in its transaction)."""
        await session.execute(delete(NoteRow).where(NoteRow.community_id == community_id))

    async def count(self, session: AsyncSession, community_id: int) -> int:
        """How many notes the community keeps."""
        found = await session.scalar(
            select(func.count()).select_from(NoteRow).where(NoteRow.community_id == community_id)
        )
        return int(found or 0)


def _auto(number: int, kind: str, trigger: str, reply: str) -> AutoReply:
    return AutoReply(int(number), kind, trigger, reply)  # type: ignore[arg-type]


class AutoReplyRepo:
    """The auto-replies' verbs. Triggers are checked by the caller (the handler compiles them
    through the filters' matcher before they are stored)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        session: AsyncSession,
        community_id: int,
        kind: AutoReplyKind,
        trigger: str,
        reply: str,
        created_by: int | None,
        *,
        now: datetime | None = None,
        most: int | None = None,
    ) -> AutoReply:
        """Add an auto-reply under the community's next number. With ``most``,
        ``NotesFullError`` when the community already keeps that many (counted after the
        community lock, so concurrent adds cannot pass it together)."""
        _check_text(reply)
        if not 0 < len(trigger) <= TRIGGER_LEN:
            raise ValueError(f"a trigger has 1 to {TRIGGER_LEN} characters")
        await _lock_community(self.db, session, community_id)
        if most is not None and len(await self.active(session, community_id)) >= most:
            raise NotesFullError(most)
        following = (
            select(func.coalesce(func.max(AutoReplyRow.number), 0) + 1)
            .where(AutoReplyRow.community_id == community_id)
            .scalar_subquery()
        )
        number = await session.scalar(
            insert(AutoReplyRow)
            .values(
                community_id=community_id,
                number=following,
                kind=kind,
                trigger=trigger,
                reply=reply,
                created_by=created_by,
                created_at=_now(now),
            )
            .returning(AutoReplyRow.number)
        )
        assert number is not None
        return _auto(number, kind, trigger, reply)

    async def remove(
        self, session: AsyncSession, community_id: int, number: int, *, now: datetime | None = None
    ) -> AutoReply | None:
        """Remove auto-reply ``number`` (its number is not reused); the removed one, or
        ``None`` when there was none (already removed included), in one ``UPDATE``."""
        changed = await session.execute(
            update(AutoReplyRow)
            .where(
                AutoReplyRow.community_id == community_id,
                AutoReplyRow.number == number,
                AutoReplyRow.removed_at.is_(None),
            )
            .values(removed_at=_now(now))
            .returning(
                AutoReplyRow.number, AutoReplyRow.kind, AutoReplyRow.trigger, AutoReplyRow.reply
            )
        )
        row = changed.first()
        return None if row is None else _auto(*row)

    async def remove_all(
        self, session: AsyncSession, community_id: int, *, now: datetime | None = None
    ) -> None:
        """Remove every auto-reply in force (numbers are kept, never reused: ``/import``)."""
        await session.execute(
            update(AutoReplyRow)
            .where(AutoReplyRow.community_id == community_id, AutoReplyRow.removed_at.is_(None))
            .values(removed_at=_now(now))
        )

    async def active(self, session: AsyncSession, community_id: int) -> list[AutoReply]:
        """The community's auto-replies in force, by number."""
        rows = await session.execute(
            select(AutoReplyRow.number, AutoReplyRow.kind, AutoReplyRow.trigger, AutoReplyRow.reply)
            .where(AutoReplyRow.community_id == community_id, AutoReplyRow.removed_at.is_(None))
            .order_by(AutoReplyRow.number)
        )
        return [_auto(*row) for row in rows.all()]
