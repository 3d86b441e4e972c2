"""The feedback inbox (反馈机制): items members file, their supporters, every status change,
the notices each change owes, and the drafts waiting for the author's choice.

Exactly-once by construction: a vote is a unique (item, member) row inserted with ``ON
CONFLICT DO NOTHING``, so twenty presses at once count one; a status change is one
conditional ``UPDATE ... WHERE status = :seen`` and writes its history row and one notice row
per member to tell (unique per change and member) in the same transaction; notices are
claimed and sent as reminders are (``storage/claims.py``: a stop between sending and marking
loses one notice at most, never doubles it). A draft is taken by one ``DELETE ... RETURNING``:
one press files it, however many arrive.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    delete,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import claims
from storage.base import PLATFORM_ID_LEN, REASON_LEN, Base, Id
from storage.claims import PENDING, SENDING, SENT
from storage.communities import Community
from storage.db import Database
from storage.members import Member

__all__ = [
    "CLOSED",
    "MERGED",
    "NEW",
    "OPEN",
    "STATUSES",
    "TEXT_MAX",
    "Change",
    "DueNotice",
    "FeedbackChange",
    "FeedbackDraft",
    "FeedbackFigures",
    "FeedbackItem",
    "FeedbackNotice",
    "FeedbackRepo",
    "FeedbackVote",
    "Item",
    "TakenDraft",
]

#: The longest feedback text kept (characters); settings may ask for less.
TEXT_MAX = 1_000
NOTE_LEN = REASON_LEN

NEW, REVIEW, PLANNED, PROGRESS, DONE, DECLINED = (
    "new",
    "review",
    "planned",
    "progress",
    "done",
    "declined",
)
#: Closed by merging into another item (its votes went there).
MERGED = "merged"
OPEN = (NEW, REVIEW, PLANNED, PROGRESS)
CLOSED = (DONE, DECLINED)
STATUSES = OPEN + CLOSED


class FeedbackItem(Base):
    """One piece of feedback: its text, author (hidden from members when anonymous) and
    where it stands."""

    __tablename__ = "feedback_items"
    __table_args__ = (Index("ix_feedback_items_community_status", "community_id", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    author_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(String(TEXT_MAX))
    #: new, review, planned, progress, done, declined, merged
    status: Mapped[str] = mapped_column(String(16), default=NEW)
    #: The last operator note (a decline's reason).
    note: Mapped[str | None] = mapped_column(String(NOTE_LEN))
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback_items.id", ondelete="SET NULL")
    )
    #: The topic or channel it was filed in (a fallback mention goes there).
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    created_at: Mapped[datetime]
    #: When an operator first moved it on from ``new`` (time to triage).
    triaged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class FeedbackVote(Base):
    """A member's support for an item: once per member (the unique key counts it once)."""

    __tablename__ = "feedback_votes"
    __table_args__ = (UniqueConstraint("item_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("feedback_items.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class FeedbackChange(Base):
    """One move of an item (its history): from, to, by whom, with what note."""

    __tablename__ = "feedback_changes"
    __table_args__ = (Index("ix_feedback_changes_item", "item_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("feedback_items.id", ondelete="CASCADE"))
    actor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(NOTE_LEN))
    #: For a merge: the item it went into.
    merged_into_id: Mapped[int | None] = mapped_column(Id)
    created_at: Mapped[datetime]


class FeedbackNotice(Base):
    """A change to tell one member (the author or a supporter) privately: claimed and sent
    once by the notices tick, so it survives a restart."""

    __tablename__ = "feedback_notices"
    __table_args__ = (
        UniqueConstraint("change_id", "member_id"),
        Index("ix_feedback_notices_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("feedback_changes.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    #: ``author`` or ``supporter``: what the notice says.
    role: Mapped[str] = mapped_column(String(16))
    #: pending, sending, sent, unsure (stopped between sending and marking: never again)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class FeedbackDraft(Base):
    """Feedback waiting for its author's choice (similar items were shown): kept until the
    author files it, supports another item instead, or it expires (then it is deleted)."""

    __tablename__ = "feedback_drafts"
    __table_args__ = (Index("ix_feedback_drafts_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(String(TEXT_MAX))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    community_id: int
    author_member_id: int
    author_user_id: str
    author_name: str
    anonymous: bool
    text: str
    status: str
    note: str | None
    merged_into_id: int | None
    channel_id: str | None
    votes: int
    created_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    item_id: int
    actor_name: str | None
    from_status: str
    to_status: str
    note: str | None
    merged_into_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TakenDraft:
    id: int
    community_id: int
    member_id: int
    anonymous: bool
    text: str
    channel_id: str | None


@dataclass(frozen=True, slots=True)
class DueNotice:
    """A claimed notice with whom it goes to and what changed."""

    id: int
    role: str
    community_id: int
    platform: str
    chat_id: str
    channel_id: str | None
    user_id: str
    display_name: str
    item_id: int
    item_text: str
    anonymous_author: bool
    to_status: str
    note: str | None
    merged_into_id: int | None


@dataclass(frozen=True, slots=True)
class FeedbackFigures:
    """The inbox's week for the digest: what came in, what waits, how fast, how many closed."""

    new_this_week: int
    #: Still ``new`` more than 7 days after filing.
    waiting_triage: int
    #: Median time from filing to the first move, over items triaged in the window.
    median_triage: timedelta | None
    #: Items filed in the window that reached done, or declined with a note.
    closed_loop: int
    #: Items filed in the window (merged ones not counted: their twin is).
    filed_in_window: int

    @property
    def loop_closed_share(self) -> float | None:
        return self.closed_loop / self.filed_in_window if self.filed_in_window else None


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class FeedbackRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- filing ---------------------------------------------------------------------------
    async def file(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        author_member_id: int,
        text: str,
        anonymous: bool,
        channel_id: str | None,
        now: datetime,
    ) -> int:
        item = FeedbackItem(
            community_id=community_id,
            author_member_id=author_member_id,
            anonymous=anonymous,
            text=text,
            status=NEW,
            channel_id=channel_id,
            created_at=now,
        )
        session.add(item)
        await session.flush()
        return item.id

    async def add_draft(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        member_id: int,
        text: str,
        anonymous: bool,
        channel_id: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        draft = FeedbackDraft(
            community_id=community_id,
            member_id=member_id,
            anonymous=anonymous,
            text=text,
            channel_id=channel_id,
            expires_at=expires_at,
            created_at=now,
        )
        session.add(draft)
        await session.flush()
        return draft.id

    async def draft_owner(self, session: AsyncSession, draft_id: int, now: datetime) -> str | None:
        """The platform user id of a live draft's author (``None``: gone or expired)."""
        found = await session.execute(
            select(Member.platform_user_id)
            .join(FeedbackDraft, FeedbackDraft.member_id == Member.id)
            .where(FeedbackDraft.id == draft_id, FeedbackDraft.expires_at > now)
        )
        return found.scalar_one_or_none()

    async def take_draft(
        self, session: AsyncSession, draft_id: int, now: datetime
    ) -> TakenDraft | None:
        """Delete a live draft and return it: one caller gets it, however many press."""
        table = FeedbackDraft.__table__
        taken = await session.execute(
            delete(FeedbackDraft)
            .where(FeedbackDraft.id == draft_id, FeedbackDraft.expires_at > now)
            .returning(
                table.c.id,
                table.c.community_id,
                table.c.member_id,
                table.c.anonymous,
                table.c.text,
                table.c.channel_id,
            )
        )
        row = taken.first()
        if row is None:
            return None
        return TakenDraft(int(row[0]), int(row[1]), int(row[2]), bool(row[3]), row[4], row[5])

    async def purge_drafts(self, session: AsyncSession, now: datetime) -> int:
        """Delete expired drafts: their text is kept no longer than the author's choice."""
        return _rowcount(
            await session.execute(delete(FeedbackDraft).where(FeedbackDraft.expires_at <= now))
        )

    async def drafts(self, session: AsyncSession) -> int:
        return int(
            (await session.execute(select(func.count()).select_from(FeedbackDraft))).scalar_one()
        )

    # -- reading --------------------------------------------------------------------------
    def _items(self) -> object:
        votes = (
            select(func.count())
            .where(FeedbackVote.item_id == FeedbackItem.id)
            .correlate(FeedbackItem)
            .scalar_subquery()
        )
        return select(
            FeedbackItem, Member.platform_user_id, Member.display_name, votes.label("v")
        ).join(Member, Member.id == FeedbackItem.author_member_id)

    @staticmethod
    def _item(row: object) -> Item:
        item, user_id, name, votes = row  # type: ignore[misc]
        return Item(
            id=item.id,
            community_id=item.community_id,
            author_member_id=item.author_member_id,
            author_user_id=user_id,
            author_name=name or user_id,
            anonymous=item.anonymous,
            text=item.text,
            status=item.status,
            note=item.note,
            merged_into_id=item.merged_into_id,
            channel_id=item.channel_id,
            votes=int(votes or 0),
            created_at=item.created_at,
        )

    async def get(self, session: AsyncSession, community_id: int, item_id: int) -> Item | None:
        query = self._items().where(  # type: ignore[attr-defined]
            FeedbackItem.id == item_id, FeedbackItem.community_id == community_id
        )
        row = (await session.execute(query)).first()
        return self._item(row) if row is not None else None

    async def board(
        self, session: AsyncSession, community_id: int, statuses: tuple[str, ...], limit: int
    ) -> list[Item]:
        """Items in ``statuses``, most supported first (oldest first among equals)."""
        query = (
            self._items()  # type: ignore[attr-defined]
            .where(FeedbackItem.community_id == community_id, FeedbackItem.status.in_(statuses))
            .order_by(literal_column("v").desc(), FeedbackItem.id)
            .limit(limit)
        )
        return [self._item(row) for row in (await session.execute(query)).all()]

    async def count(
        self, session: AsyncSession, community_id: int, statuses: tuple[str, ...]
    ) -> int:
        found = await session.execute(
            select(func.count())
            .select_from(FeedbackItem)
            .where(FeedbackItem.community_id == community_id, FeedbackItem.status.in_(statuses))
        )
        return int(found.scalar_one())

    async def open_texts(
        self, session: AsyncSession, community_id: int, most: int = 5_000
    ) -> list[tuple[int, str]]:
        """Open items' numbers and texts, newest first (``most`` at most): what a new item is
        compared with."""
        rows = await session.execute(
            select(FeedbackItem.id, FeedbackItem.text)
            .where(FeedbackItem.community_id == community_id, FeedbackItem.status.in_(OPEN))
            .order_by(FeedbackItem.id.desc())
            .limit(most)
        )
        return [(int(i), t) for i, t in rows.all()]

    async def history(self, session: AsyncSession, item_id: int) -> list[Change]:
        rows = await session.execute(
            select(FeedbackChange, Member.display_name)
            .outerjoin(Member, Member.id == FeedbackChange.actor_member_id)
            .where(FeedbackChange.item_id == item_id)
            .order_by(FeedbackChange.id)
        )
        return [
            Change(
                id=c.id,
                item_id=c.item_id,
                actor_name=name,
                from_status=c.from_status,
                to_status=c.to_status,
                note=c.note,
                merged_into_id=c.merged_into_id,
                created_at=c.created_at,
            )
            for c, name in rows.all()
        ]

    async def voters(self, session: AsyncSession, item_id: int) -> list[int]:
        rows = await session.execute(
            select(FeedbackVote.member_id)
            .where(FeedbackVote.item_id == item_id)
            .order_by(FeedbackVote.member_id)
        )
        return [int(i) for i in rows.scalars()]

    # -- support --------------------------------------------------------------------------
    async def support(
        self, session: AsyncSession, item_id: int, member_id: int, now: datetime
    ) -> bool:
        """Count ``member_id``'s support once: ``True`` when this call added it."""
        table = FeedbackVote.__table__
        added = await session.execute(
            self.db.insert(table)
            .values(item_id=item_id, member_id=member_id, created_at=now)
            .on_conflict_do_nothing(index_elements=["item_id", "member_id"])
            .returning(table.c.id)
        )
        return added.first() is not None

    # -- moving ---------------------------------------------------------------------------
    async def move(
        self,
        session: AsyncSession,
        item: Item,
        to_status: str,
        *,
        note: str | None,
        actor_member_id: int | None,
        now: datetime,
        merged_into_id: int | None = None,
    ) -> int | None:
        """``item.status -> to_status`` if nobody moved it meanwhile, with its history row
        and one notice per member to tell (the author and supporters, not the actor): the
        change's id, or ``None`` when the item was no longer as read."""
        values: dict[str, object] = {"status": to_status, "note": note}
        if item.status == NEW:
            values["triaged_at"] = func.coalesce(FeedbackItem.triaged_at, now)
        values["closed_at"] = now if to_status in (*CLOSED, MERGED) else None
        if merged_into_id is not None:
            values["merged_into_id"] = merged_into_id
        moved = await session.execute(
            update(FeedbackItem)
            .where(FeedbackItem.id == item.id, FeedbackItem.status == item.status)
            .values(**values)
        )
        if _rowcount(moved) != 1:
            return None
        change = FeedbackChange(
            item_id=item.id,
            actor_member_id=actor_member_id,
            from_status=item.status,
            to_status=to_status,
            note=note,
            merged_into_id=merged_into_id,
            created_at=now,
        )
        session.add(change)
        await session.flush()
        await self._owe_notices(session, change.id, item, actor_member_id, now)
        return change.id

    async def _owe_notices(
        self,
        session: AsyncSession,
        change_id: int,
        item: Item,
        actor_member_id: int | None,
        now: datetime,
    ) -> None:
        told = [(item.author_member_id, "author")]
        told += [(m, "supporter") for m in await self.voters(session, item.id)]
        rows = [
            {
                "change_id": change_id,
                "member_id": member_id,
                "role": role,
                "status": PENDING,
                "due_at": now,
                "created_at": now,
            }
            for member_id, role in told
            if member_id != actor_member_id
        ]
        if rows:
            table = FeedbackNotice.__table__
            await session.execute(
                self.db.insert(table).on_conflict_do_nothing(
                    index_elements=["change_id", "member_id"]
                ),
                rows,
            )

    async def merge(
        self,
        session: AsyncSession,
        source: Item,
        target: Item,
        *,
        actor_member_id: int | None,
        now: datetime,
    ) -> int | None:
        """Close ``source`` into ``target``: its supporters, and its author, support
        ``target`` (each member counted once; ``target``'s author not at all). The change's
        id, or ``None`` when ``source`` moved meanwhile."""
        changed = await self.move(
            session,
            source,
            MERGED,
            note=None,
            actor_member_id=actor_member_id,
            now=now,
            merged_into_id=target.id,
        )
        if changed is None:
            return None
        carried = select(literal(target.id), FeedbackVote.member_id, FeedbackVote.created_at).where(
            FeedbackVote.item_id == source.id,
            FeedbackVote.member_id != target.author_member_id,
        )
        table = FeedbackVote.__table__
        await session.execute(
            self.db.insert(table)
            .from_select(["item_id", "member_id", "created_at"], carried)
            .on_conflict_do_nothing(index_elements=["item_id", "member_id"])
        )
        if source.author_member_id != target.author_member_id:
            await self.support(session, target.id, source.author_member_id, now)
        return changed

    # -- notices --------------------------------------------------------------------------
    async def claim_notice(self, session: AsyncSession, now: datetime) -> DueNotice | None:
        """Take the next due notice, in one ``UPDATE`` (see ``storage/claims.py``)."""
        claimed = await claims.claim_due(session, self.db, FeedbackNotice, now, limit=1)
        if not claimed:
            return None
        [notice_id] = claimed
        found = await session.execute(
            select(
                FeedbackNotice.role,
                FeedbackItem,
                FeedbackChange,
                Community.platform,
                Community.chat_id,
                Member.platform_user_id,
                Member.display_name,
            )
            .join(FeedbackChange, FeedbackChange.id == FeedbackNotice.change_id)
            .join(FeedbackItem, FeedbackItem.id == FeedbackChange.item_id)
            .join(Community, Community.id == FeedbackItem.community_id)
            .join(Member, Member.id == FeedbackNotice.member_id)
            .where(FeedbackNotice.id == notice_id)
        )
        role, item, change, platform, chat_id, user_id, name = found.one()
        return DueNotice(
            id=notice_id,
            role=role,
            community_id=item.community_id,
            platform=platform,
            chat_id=chat_id,
            channel_id=item.channel_id,
            user_id=user_id,
            display_name=name or user_id,
            item_id=item.id,
            item_text=item.text,
            anonymous_author=item.anonymous,
            to_status=change.to_status,
            note=change.note,
            merged_into_id=change.merged_into_id,
        )

    async def mark_sent(self, session: AsyncSession, notice_id: int) -> None:
        await session.execute(
            update(FeedbackNotice)
            .where(FeedbackNotice.id == notice_id, FeedbackNotice.status == SENDING)
            .values(status=SENT)
        )

    async def abandon_stale(self, session: AsyncSession, claimed_before: datetime) -> int:
        return await claims.abandon_stale(session, FeedbackNotice, claimed_before)

    # -- figures --------------------------------------------------------------------------
    async def figures(
        self, session: AsyncSession, community_id: int, now: datetime, window_days: int = 28
    ) -> FeedbackFigures:
        """The digest's figures at ``now``: new this week, waiting for triage over 7 days,
        and over the last ``window_days`` the median time to triage and how many items filed
        then had their loop closed (done, or declined with a note)."""
        week, window = now - timedelta(days=7), now - timedelta(days=window_days)
        mine = FeedbackItem.community_id == community_id

        async def counted(*where: object) -> int:
            found = await session.execute(
                select(func.count()).select_from(FeedbackItem).where(mine, *where)  # type: ignore[arg-type]
            )
            return int(found.scalar_one())

        new_this_week = await counted(FeedbackItem.created_at >= week)
        waiting = await counted(FeedbackItem.status == NEW, FeedbackItem.created_at < week)
        filed = await counted(FeedbackItem.created_at >= window, FeedbackItem.status != MERGED)
        closed = await counted(
            FeedbackItem.created_at >= window,
            (FeedbackItem.status == DONE)
            | ((FeedbackItem.status == DECLINED) & (func.length(func.trim(FeedbackItem.note)) > 0)),
        )
        rows = await session.execute(
            select(FeedbackItem.created_at, FeedbackItem.triaged_at).where(
                mine, FeedbackItem.triaged_at >= window
            )
        )
        waits = [(t - c).total_seconds() for c, t in rows.all() if t is not None]
        median = timedelta(seconds=statistics.median(waits)) if waits else None
        return FeedbackFigures(new_this_week, waiting, median, closed, filed)
