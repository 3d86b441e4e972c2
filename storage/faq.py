"""A community's FAQ: numbered question-and-answer entries that ``/faq`` lists and searches and
``/ask`` offers before a question goes to people.

Numbers are per community and never reused: a removed entry keeps its row (``removed_at``), so
"FAQ 7" means the same entry in old messages and in the audit log. The next number is taken in
the ``INSERT`` itself (``max + 1``) after the community's row is locked on PostgreSQL (SQLite
writers are serial), and a unique ``(community_id, number)`` guards it anyway.

Each row carries a ``revision`` bumped by every edit and removal, so ``version()`` (how many
rows, the sum of revisions) changes whenever a community's entries do: the search index cached
in memory compares it with one aggregate query instead of reloading the entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, Id
from storage.communities import Community
from storage.db import Database

__all__ = ["ANSWER_LEN", "QUESTION_LEN", "FaqEntry", "FaqEntryRow", "FaqFullError", "FaqRepo"]

#: The longest question and answer kept (characters); ``/faq add`` states these limits.
QUESTION_LEN = 200
ANSWER_LEN = 2_000


class FaqEntryRow(Base):
    """One FAQ entry of a community, numbered from 1 in the order added."""

    __tablename__ = "faq_entries"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        # An answered question is promoted to the FAQ at most once.
        UniqueConstraint("source_question_id"),
        Index("ix_faq_entries_community_removed", "community_id", "removed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(String(QUESTION_LEN))
    answer: Mapped[str] = mapped_column(String(ANSWER_LEN))
    #: The member who added it (``members.id``); kept when the member row goes.
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    #: The answered question it was promoted from (``questions.id``), if any.
    source_question_id: Mapped[int | None] = mapped_column(Id)
    #: Bumped by every edit and removal (see ``FaqRepo.version``).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """An entry as members see it: its number, question and answer."""

    number: int
    question: str
    answer: str


class FaqFullError(Exception):
    """The community already keeps the most entries allowed; nothing was added."""


def _entry(row: FaqEntryRow) -> FaqEntry:
    return FaqEntry(row.number, row.question, row.answer)


def _now(now: datetime | None) -> datetime:
    """Callers pass ``ctx.clock.now()``; the wall clock is only a fallback."""
    return now if now is not None else datetime.now(UTC)


class FaqRepo:
    """The FAQ's verbs. Text is checked by the caller (``QUESTION_LEN``, ``ANSWER_LEN``); a
    longer text is refused here with ``ValueError`` rather than silently cut."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _check(question: str | None, answer: str | None) -> None:
        if question is not None and not 0 < len(question) <= QUESTION_LEN:
            raise ValueError(f"a FAQ question has 1 to {QUESTION_LEN} characters")
        if answer is not None and not 0 < len(answer) <= ANSWER_LEN:
            raise ValueError(f"a FAQ answer has 1 to {ANSWER_LEN} characters")

    async def add(
        self,
        session: AsyncSession,
        community_id: int,
        question: str,
        answer: str,
        created_by: int | None,
        source_question_id: int | None = None,
        *,
        now: datetime | None = None,
        most: int | None = None,
    ) -> FaqEntry:
        """Add an entry under the community's next number. Promoting the same question twice
        returns the entry it already became (even if removed since: it is not added again).
        With ``most``, ``FaqFullError`` when the community already keeps that many (counted
        after the lock, so concurrent adds cannot pass it together)."""
        self._check(question, answer)
        if self.db.dialect == "postgresql":
            await session.execute(
                select(Community.id).where(Community.id == community_id).with_for_update()
            )
        if source_question_id is not None:
            found = await session.scalar(
                select(FaqEntryRow).where(FaqEntryRow.source_question_id == source_question_id)
            )
            if found is not None:
                return _entry(found)
        if most is not None and await self.count(session, community_id) >= most:
            raise FaqFullError(most)
        stamp = _now(now)
        following = (
            select(func.coalesce(func.max(FaqEntryRow.number), 0) + 1)
            .where(FaqEntryRow.community_id == community_id)
            .scalar_subquery()
        )
        number = await session.scalar(
            insert(FaqEntryRow)
            .values(
                community_id=community_id,
                number=following,
                question=question,
                answer=answer,
                created_by=created_by,
                source_question_id=source_question_id,
                revision=literal(0),
                created_at=stamp,
                updated_at=stamp,
            )
            .returning(FaqEntryRow.number)
        )
        assert number is not None
        return FaqEntry(int(number), question, answer)

    async def get(self, session: AsyncSession, community_id: int, number: int) -> FaqEntry | None:
        """Entry ``number`` unless there is none or it was removed."""
        row = await session.scalar(
            select(FaqEntryRow).where(
                FaqEntryRow.community_id == community_id,
                FaqEntryRow.number == number,
                FaqEntryRow.removed_at.is_(None),
            )
        )
        return None if row is None else _entry(row)

    async def edit(
        self,
        session: AsyncSession,
        community_id: int,
        number: int,
        question: str | None,
        answer: str | None,
        *,
        now: datetime | None = None,
    ) -> FaqEntry | None:
        """Change an entry's question and/or answer (``None`` keeps it), in one ``UPDATE``;
        ``None`` when there is no such entry."""
        self._check(question, answer)
        values: dict[str, object] = {
            "updated_at": _now(now),
            "revision": FaqEntryRow.revision + 1,
        }
        if question is not None:
            values["question"] = question
        if answer is not None:
            values["answer"] = answer
        changed = await session.execute(
            update(FaqEntryRow)
            .where(
                FaqEntryRow.community_id == community_id,
                FaqEntryRow.number == number,
                FaqEntryRow.removed_at.is_(None),
            )
            .values(values)
            .returning(FaqEntryRow.number, FaqEntryRow.question, FaqEntryRow.answer)
        )
        row = changed.first()
        return None if row is None else FaqEntry(int(row[0]), row[1], row[2])

    async def remove(
        self, session: AsyncSession, community_id: int, number: int, *, now: datetime | None = None
    ) -> FaqEntry | None:
        """Remove an entry (its number is not reused); the removed entry, or ``None`` when
        there was none (already removed included), in one ``UPDATE``."""
        stamp = _now(now)
        changed = await session.execute(
            update(FaqEntryRow)
            .where(
                FaqEntryRow.community_id == community_id,
                FaqEntryRow.number == number,
                FaqEntryRow.removed_at.is_(None),
            )
            .values(removed_at=stamp, updated_at=stamp, revision=FaqEntryRow.revision + 1)
            .returning(FaqEntryRow.number, FaqEntryRow.question, FaqEntryRow.answer)
        )
        row = changed.first()
        return None if row is None else FaqEntry(int(row[0]), row[1], row[2])

    async def remove_all(
        self, session: AsyncSession, community_id: int, *, now: datetime | None = None
    ) -> None:
        """Remove every entry (numbers are kept, never reused: ``/import``), in one ``UPDATE``
        that bumps each revision so cached indexes see the change."""
        stamp = _now(now)
        await session.execute(
            update(FaqEntryRow)
            .where(FaqEntryRow.community_id == community_id, FaqEntryRow.removed_at.is_(None))
            .values(removed_at=stamp, updated_at=stamp, revision=FaqEntryRow.revision + 1)
        )

    async def entries(self, session: AsyncSession, community_id: int) -> list[FaqEntry]:
        """The community's entries, by number."""
        rows = await session.execute(
            select(FaqEntryRow.number, FaqEntryRow.question, FaqEntryRow.answer)
            .where(FaqEntryRow.community_id == community_id, FaqEntryRow.removed_at.is_(None))
            .order_by(FaqEntryRow.number)
        )
        return [FaqEntry(int(n), q, a) for n, q, a in rows.all()]

    async def count(self, session: AsyncSession, community_id: int) -> int:
        """How many entries the community has (removed ones not counted)."""
        found = await session.scalar(
            select(func.count())
            .select_from(FaqEntryRow)
            .where(FaqEntryRow.community_id == community_id, FaqEntryRow.removed_at.is_(None))
        )
        return int(found or 0)

    async def version(self, session: AsyncSession, community_id: int) -> tuple[int, int]:
        """A value that changes whenever the community's entries change (added, edited,
        removed), in any process: compare it to know whether a cached index is stale."""
        row = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(FaqEntryRow.revision), 0)).where(
                    FaqEntryRow.community_id == community_id
                )
            )
        ).one()
        return int(row[0]), int(row[1])
