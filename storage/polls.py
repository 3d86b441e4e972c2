"""Polls (投票): questions, options and the members' votes.

Exactly once: a vote locks the poll row (``FOR UPDATE``; SQLite serializes writers with
``BEGIN IMMEDIATE``), reads the member's current choices under that lock and then replaces,
adds or removes rows, so concurrent presses by one member or by many never double-count; a
unique (poll, member, option) row is the backstop. A vote after ``closes_at`` is refused even
before the closing tick ran, and closing is a conditional ``open -> closed`` update, so a
restart or a second process announces a result once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, UPDATE_KEY_LEN, Base, Id
from storage.db import Database
from storage.members import Member

__all__ = [
    "CLOSED",
    "OPEN",
    "POLL_OPTION_LEN",
    "POLL_QUESTION_LEN",
    "OptionTally",
    "Poll",
    "PollInfo",
    "PollOption",
    "PollRepo",
    "PollVote",
    "Tally",
    "Vote",
    "Voter",
    "waiting_on_closed_polls",
]

#: Column sizes of these tables; text is clipped to them before storage.
POLL_QUESTION_LEN = 300
POLL_OPTION_LEN = 100


class Poll(Base):
    """A poll (投票) voted on with the bot's buttons; votes are rows in ``poll_votes``. It
    closes at ``closes_at`` by a durable tick (a conditional ``open -> closed`` update)."""

    __tablename__ = "polls"
    __table_args__ = (
        Index("ix_polls_due", "status", "closes_at"),
        Index("ix_polls_open", "community_id", "status"),
        CheckConstraint("max_choices >= 1", name="at_least_one_choice"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    #: Discord: the channel it was posted in; Telegram: empty.
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    creator_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(POLL_QUESTION_LEN))
    #: How many options one member may choose: 1 for a single-choice poll.
    max_choices: Mapped[int] = mapped_column(SmallInteger, default=1)
    #: Voters are recorded (to allow changing a vote) but never shown.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    #: open or closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The platform update that started it: a redelivered command starts no second poll.
    send_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    #: Who closed it early (``/closepoll``); empty when it closed at its deadline.
    closed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )


class PollOption(Base):
    """One option of a poll, numbered from 1 in the order given."""

    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(String(POLL_OPTION_LEN))


class PollVote(Base):
    """A member's choice of one option: at most one row per (poll, member, option); a
    single-choice poll keeps at most one row per member (the repository replaces it)."""

    __tablename__ = "poll_votes"
    __table_args__ = (
        UniqueConstraint("poll_id", "member_id", "position"),
        Index("ix_poll_votes_tally", "poll_id", "position"),
        ForeignKeyConstraint(
            ["poll_id", "position"],
            ["poll_options.poll_id", "poll_options.position"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    voted_at: Mapped[datetime]


OPEN, CLOSED = "open", "closed"

#: A poll's message stands for its row (``storage.posts``).
POSTED = posts.register("poll", Poll)

Outcome = Literal["voted", "changed", "same", "added", "removed", "limit", "closed", "unknown"]


@dataclass(frozen=True, slots=True)
class PollInfo(posts.PlacedInfo):
    posted_kind: ClassVar[str] = POSTED

    creator_member_id: int
    creator_user_id: str
    creator_name: str
    question: str
    options: tuple[str, ...]
    max_choices: int
    anonymous: bool
    status: str
    created_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    closed_by_member_id: int | None
    #: What started it: a command's update, or the feature that opened it (rule votes,
    #: calls for submissions), which then announces its outcome.
    send_key: str = ""

    @property
    def multi(self) -> bool:
        return self.max_choices > 1

    def is_open(self, now: datetime) -> bool:
        """Open for votes: not closed, and its deadline not reached (the tick may lag)."""
        return self.status == OPEN and self.closes_at > now


@dataclass(frozen=True, slots=True)
class Voter:
    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class OptionTally:
    position: int
    text: str
    votes: int
    #: Who chose it, in voting order; empty for anonymous polls.
    voters: tuple[Voter, ...]


@dataclass(frozen=True, slots=True)
class Tally:
    options: tuple[OptionTally, ...]
    #: Distinct members who voted (a multi-choice voter counts once).
    voters: int

    @property
    def winners(self) -> tuple[OptionTally, ...]:
        """The options with the most votes (several on a tie); none when nobody voted."""
        most = max((option.votes for option in self.options), default=0)
        if most == 0:
            return ()
        return tuple(option for option in self.options if option.votes == most)


@dataclass(frozen=True, slots=True)
class Vote:
    """One press's outcome. ``chosen`` is the member's choices after it (positions)."""

    outcome: Outcome
    position: int
    chosen: tuple[int, ...] = ()
    previous: tuple[int, ...] = ()

    @property
    def counted(self) -> bool:
        """Whether the tally changed."""
        return self.outcome in ("voted", "changed", "added", "removed")


def clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


async def waiting_on_closed_polls(session: AsyncSession, model: Any, status: str) -> list[int]:
    """Ids of ``model``'s rows (a proposal, a call for submissions) still in ``status`` whose
    poll (``model.poll_id``) has closed: what a feature's tick decides, 100 at a time."""
    rows = await session.execute(
        select(model.id)
        .join(Poll, Poll.id == model.poll_id)
        .where(model.status == status, Poll.status != OPEN)
        .order_by(model.id)
        .limit(100)
    )
    return [int(i) for i in rows.scalars()]


class PollRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        channel_id: str | None,
        creator_member_id: int,
        question: str,
        options: Sequence[str],
        max_choices: int,
        anonymous: bool,
        send_key: str,
        now: datetime,
        closes_at: datetime,
    ) -> int | None:
        """The new poll's id, or ``None`` if this ``send_key`` started one already."""
        return await posts.create_once(
            session,
            self.db,
            Poll,
            "send_key",
            {
                "community_id": community_id,
                "channel_id": channel_id,
                "creator_member_id": creator_member_id,
                "question": clip(question, POLL_QUESTION_LEN),
                "max_choices": max_choices,
                "anonymous": anonymous,
                "status": OPEN,
                "send_key": send_key,
                "created_at": now,
                "closes_at": closes_at,
            },
            children=(
                PollOption,
                "poll_id",
                [
                    {"position": position, "text": clip(text, POLL_OPTION_LEN)}
                    for position, text in enumerate(options, 1)
                ],
            ),
        )

    async def get(self, session: AsyncSession, poll_id: int) -> PollInfo | None:
        row = await posts.fetch_placed(session, Poll, poll_id, by=Poll.creator_member_id)
        if row is None:
            return None
        poll, platform, chat_id, creator = row
        options = await session.execute(
            select(PollOption.text)
            .where(PollOption.poll_id == poll_id)
            .order_by(PollOption.position)
        )
        return posts.placed_info(
            PollInfo,
            poll,
            platform,
            chat_id,
            creator_member_id=creator.id,
            creator_user_id=creator.platform_user_id,
            creator_name=creator.display_name or creator.platform_user_id,
            question=poll.question,
            options=tuple(options.scalars()),
            max_choices=poll.max_choices,
            anonymous=poll.anonymous,
            status=poll.status,
            created_at=poll.created_at,
            closes_at=poll.closes_at,
            closed_at=poll.closed_at,
            closed_by_member_id=poll.closed_by_member_id,
            send_key=poll.send_key,
        )

    async def open_ids(
        self,
        session: AsyncSession,
        community_id: int,
        *,
        channel_id: str | None = None,
        any_channel: bool = True,
        limit: int = 20,
    ) -> list[int]:
        """Open polls of a community, newest first (only one channel's unless ``any_channel``)."""
        statement = select(Poll.id).where(Poll.community_id == community_id, Poll.status == OPEN)
        if not any_channel:
            statement = statement.where(
                Poll.channel_id.is_(None) if channel_id is None else Poll.channel_id == channel_id
            )
        rows = await session.execute(statement.order_by(Poll.id.desc()).limit(limit))
        return list(rows.scalars())

    async def voter_counts(self, session: AsyncSession, poll_ids: Sequence[int]) -> dict[int, int]:
        """Distinct voters per poll."""
        if not poll_ids:
            return {}
        rows = await session.execute(
            select(PollVote.poll_id, func.count(func.distinct(PollVote.member_id)))
            .where(PollVote.poll_id.in_(poll_ids))
            .group_by(PollVote.poll_id)
        )
        return {int(poll_id): int(count) for poll_id, count in rows.all()}

    async def vote(
        self, session: AsyncSession, poll_id: int, member_id: int, position: int, now: datetime
    ) -> Vote:
        """Choose (or, on a multi-choice poll, un-choose) option ``position`` for a member.

        Single choice: the new choice replaces the old one; the same choice again changes
        nothing. Multi choice: a press toggles the option, refused past ``max_choices``."""
        poll = (
            await session.execute(
                select(Poll.status, Poll.closes_at, Poll.max_choices)
                .where(Poll.id == poll_id)
                .with_for_update()
            )
        ).first()
        if poll is None:
            return Vote("unknown", position)
        status, closes_at, max_choices = poll
        if status != OPEN or closes_at <= now:
            return Vote("closed", position)
        exists = await session.execute(
            select(PollOption.id).where(
                PollOption.poll_id == poll_id, PollOption.position == position
            )
        )
        if exists.scalar_one_or_none() is None:
            return Vote("unknown", position)
        # Read under the poll's lock: a second press by the same member waits and sees this one.
        held = tuple(
            (
                await session.execute(
                    select(PollVote.position)
                    .where(PollVote.poll_id == poll_id, PollVote.member_id == member_id)
                    .order_by(PollVote.position)
                )
            ).scalars()
        )
        mine = (PollVote.poll_id == poll_id, PollVote.member_id == member_id)
        if max_choices == 1:
            if held == (position,):
                return Vote("same", position, held, held)
            if held:
                await session.execute(delete(PollVote).where(*mine))
            await self._insert(session, poll_id, member_id, position, now)
            return Vote("changed" if held else "voted", position, (position,), held)
        if position in held:
            await session.execute(delete(PollVote).where(*mine, PollVote.position == position))
            return Vote("removed", position, tuple(p for p in held if p != position), held)
        if len(held) >= max_choices:
            return Vote("limit", position, held, held)
        await self._insert(session, poll_id, member_id, position, now)
        return Vote("added", position, tuple(sorted((*held, position))), held)

    async def _insert(
        self, session: AsyncSession, poll_id: int, member_id: int, position: int, now: datetime
    ) -> None:
        await session.execute(
            PollVote.__table__.insert().values(
                poll_id=poll_id, member_id=member_id, position=position, voted_at=now
            )
        )

    async def tally(self, session: AsyncSession, poll: PollInfo) -> Tally:
        """Votes per option; with the voters' names unless the poll is anonymous."""
        counts = dict(
            (
                await session.execute(
                    select(PollVote.position, func.count())
                    .where(PollVote.poll_id == poll.id)
                    .group_by(PollVote.position)
                )
            ).all()
        )
        names: dict[int, list[Voter]] = {}
        if not poll.anonymous:
            rows = await session.execute(
                select(PollVote.position, Member.platform_user_id, Member.display_name)
                .join(Member, Member.id == PollVote.member_id)
                .where(PollVote.poll_id == poll.id)
                .order_by(PollVote.voted_at, PollVote.id)
            )
            for position, user_id, name in rows.all():
                names.setdefault(position, []).append(Voter(user_id, name or user_id))
        voters = (await self.voter_counts(session, [poll.id])).get(poll.id, 0)
        return Tally(
            options=tuple(
                OptionTally(
                    position=position,
                    text=text,
                    votes=int(counts.get(position, 0)),
                    voters=tuple(names.get(position, ())),
                )
                for position, text in enumerate(poll.options, 1)
            ),
            voters=voters,
        )

    async def due(self, session: AsyncSession, now: datetime, limit: int = 100) -> list[int]:
        """Open polls whose deadline has passed."""
        rows = await session.execute(
            select(Poll.id)
            .where(Poll.status == OPEN, Poll.closes_at <= now)
            .order_by(Poll.closes_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def close(
        self,
        session: AsyncSession,
        poll_id: int,
        now: datetime,
        *,
        by_member_id: int | None = None,
    ) -> bool:
        """Close an open poll for good; ``True`` once, for one caller."""
        closed = await session.execute(
            update(Poll)
            .where(Poll.id == poll_id, Poll.status == OPEN)
            .values(status=CLOSED, closed_at=now, closed_by_member_id=by_member_id)
        )
        return (closed.rowcount or 0) == 1  # type: ignore[attr-defined]
