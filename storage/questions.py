"""Members' questions to the community's experts (``/ask``), their answers, routing and figures.

A question is numbered per community (``#1``, ``#2`` ...): the number is taken while the
community's row is locked (PostgreSQL; SQLite writers are serial), so two askers at once never
share one. It is made once per platform update (``create_key``), so a redelivered ``/ask``
asks nothing twice.

Routing is scheduled rows (``question_routes``: one per question and wave, made with the
question) claimed like reminders (``storage/claims.py``): one conditional ``UPDATE`` each, so
concurrent ticks and restarts route a wave once. Who was told is a unique (question, member)
row, so an expert is never told the same question twice, whichever wave reaches them.

Closing is one conditional ``UPDATE ... WHERE status = 'open'``: of twenty presses of "solved"
one closes the question, and the answer's points are posted in that same transaction with a
key per question (``PointsReason.answer_accepted``): paid once, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import claims, posts
from storage.base import PLATFORM_ID_LEN, UPDATE_KEY_LEN, Base, Id
from storage.claims import PENDING, SENDING, SENT
from storage.communities import Community
from storage.db import Database
from storage.members import Member, MemberInfo
from storage.points import PointsReason, PointsService
from storage.roles import MemberRole

__all__ = [
    "ANSWER_LEN",
    "OPEN",
    "QUESTION_LEN",
    "SELF_SERVED",
    "SOLVED",
    "TOPICS_LEN",
    "UNANSWERED_ANCHOR",
    "Answer",
    "AnswerInfo",
    "Closed",
    "DueRoute",
    "ExpertTopics",
    "Question",
    "QuestionAnswer",
    "QuestionFigures",
    "QuestionInfo",
    "QuestionNotice",
    "QuestionRepo",
    "QuestionRoute",
]

#: The longest question and answer kept (characters); the shortest question is the handler's.
QUESTION_LEN = 500
ANSWER_LEN = 1000
#: An expert's topics, comma-joined.
TOPICS_LEN = 200
OPEN, SOLVED, SELF_SERVED = "open", "solved", "self_served"
#: The share of help sessions that got no answer at all in Python Discord's help channels: the
#: figure the share unanswered after 24 h is shown beside.
UNANSWERED_ANCHOR = 0.23
#: Routing waves: the matching experts at once, every expert later, the moderators last.
EXPERTS, WIDER, MODERATORS = 0, 1, 2


class Question(Base):
    """A member's question: its number in the community, who asked, where its message is."""

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_questions_open", "community_id", "status", "asked_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    asker_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    text: Mapped[str] = mapped_column(String(QUESTION_LEN))
    #: open, solved (an answer accepted), self_served (an FAQ entry answered it)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    #: The platform update that asked: made once however often it is delivered.
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    asked_at: Mapped[datetime]
    first_answer_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    #: The accepted answer (``question_answers.id``; no foreign key: the two tables would
    #: point at each other).
    accepted_answer_id: Mapped[int | None] = mapped_column(Id)
    #: The FAQ entry that answered it (self-served), or that its answer became (promoted).
    faq_number: Mapped[int | None] = mapped_column(Integer)
    taken_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )


class QuestionAnswer(Base):
    """One answer to a question, numbered from 1 within it."""

    __tablename__ = "question_answers"
    __table_args__ = (
        UniqueConstraint("question_id", "number"),
        Index("ix_question_answers_answerer", "answerer_member_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    answerer_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(ANSWER_LEN))
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]


class QuestionRoute(Base):
    """A wave of routing still to come (claimed once, ``storage/claims.py``)."""

    __tablename__ = "question_routes"
    __table_args__ = (
        UniqueConstraint("question_id", "wave"),
        Index("ix_question_routes_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]


class QuestionNotice(Base):
    """An expert told about a question (once, whichever wave)."""

    __tablename__ = "question_notices"
    __table_args__ = (UniqueConstraint("question_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(SmallInteger)
    sent_at: Mapped[datetime]


class ExpertTopics(Base):
    """What an expert answers (``python,设计``); an expert without a row answers anything."""

    __tablename__ = "expert_topics"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    topics: Mapped[str] = mapped_column(String(TOPICS_LEN))
    updated_at: Mapped[datetime]


#: A question's message stands for its row (``storage.posts``).
POSTED = posts.register("question", Question)


@dataclass(frozen=True, slots=True)
class QuestionInfo(posts.PlacedInfo):
    posted_kind: ClassVar[str] = POSTED

    number: int
    asker: MemberInfo
    text: str
    status: str
    asked_at: datetime
    first_answer_at: datetime | None
    accepted_answer_id: int | None
    faq_number: int | None
    answers: int = 0


@dataclass(frozen=True, slots=True)
class AnswerInfo:
    id: int
    question_id: int
    number: int
    answerer: MemberInfo
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    """What ``answer`` did: the new answer (``None``: this update answered already, or the
    question is closed: ``closed``)."""

    answer: AnswerInfo | None
    closed: bool = False
    first: bool = False


@dataclass(frozen=True, slots=True)
class Closed:
    """What ``accept`` did: ``closed`` now (by this call) and the points paid, or why not."""

    closed: bool
    paid: bool = False
    #: ``already`` (closed before), ``no_answer`` (no such answer to this question)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class DueRoute:
    id: int
    question_id: int
    wave: int


@dataclass(frozen=True, slots=True)
class QuestionFigures:
    """A community's Q&A over a period: for insights, the digest and ``/top answers``."""

    asked: int
    answered: int
    #: Minutes from asking to the first answer (median), ``None`` without answers.
    median_first_answer_minutes: float | None
    #: Questions at least 24 h old, and those of them without an answer in their first 24 h.
    aged: int
    unanswered_24h: int
    #: (member id, answers), most first.
    answers_per_member: list[tuple[int, int]]

    @property
    def unanswered_share(self) -> float | None:
        return self.unanswered_24h / self.aged if self.aged else None


def _question(
    row: Question, platform: str, chat_id: str, asker: Member, n: int = 0
) -> QuestionInfo:
    return posts.placed_info(
        QuestionInfo,
        row,
        platform,
        chat_id,
        number=row.number,
        asker=MemberInfo.of(asker),
        text=row.text,
        status=row.status,
        asked_at=row.asked_at,
        first_answer_at=row.first_answer_at,
        accepted_answer_id=row.accepted_answer_id,
        faq_number=row.faq_number,
        answers=n,
    )


class QuestionRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- asking ------------------------------------------------------------------------------
    async def ask(
        self,
        session: AsyncSession,
        *,
        community_id: int,
        asker_member_id: int,
        channel_id: str | None,
        text: str,
        key: str,
        now: datetime,
        waves: Sequence[tuple[int, datetime]],
    ) -> QuestionInfo | None:
        """A new question with its next number and its routing waves ``(wave, due_at)``;
        ``None`` when ``key`` asked already (nothing written)."""
        known = await session.execute(select(Question.id).where(Question.create_key == key))
        if known.first() is not None:
            return None
        if self.db.dialect == "postgresql":
            await session.execute(
                select(Community.id).where(Community.id == community_id).with_for_update()
            )
        last = await session.execute(
            select(func.max(Question.number)).where(Question.community_id == community_id)
        )
        number = (last.scalar_one() or 0) + 1
        question_id = await self.db.insert_once(
            session,
            Question.__table__,
            "create_key",
            {
                "community_id": community_id,
                "number": number,
                "asker_member_id": asker_member_id,
                "channel_id": channel_id,
                "text": text,
                "status": OPEN,
                "create_key": key,
                "asked_at": now,
            },
        )
        if question_id is None:
            return None
        if waves:
            await session.execute(
                QuestionRoute.__table__.insert(),
                [
                    {"question_id": question_id, "wave": w, "status": PENDING, "due_at": due}
                    for w, due in waves
                ],
            )
        return await self.get(session, question_id)

    async def get(self, session: AsyncSession, question_id: int) -> QuestionInfo | None:
        found = await posts.fetch_placed(
            session, Question, question_id, by=Question.asker_member_id
        )
        if found is None:
            return None
        row, platform, chat_id, asker = found
        count = await session.execute(
            select(func.count()).where(QuestionAnswer.question_id == question_id)
        )
        return _question(row, platform, chat_id, asker, int(count.scalar_one()))

    async def by_number(
        self, session: AsyncSession, community_id: int, number: int
    ) -> QuestionInfo | None:
        found = await session.execute(
            select(Question.id).where(
                Question.community_id == community_id, Question.number == number
            )
        )
        question_id = found.scalar_one_or_none()
        return await self.get(session, int(question_id)) if question_id is not None else None

    async def by_message(
        self, session: AsyncSession, community_id: int, message_id: str
    ) -> QuestionInfo | None:
        """The question whose message this is (a reply to it answers it)."""
        found = await session.execute(
            select(Question.id).where(
                Question.community_id == community_id,
                Question.message_id == message_id[:PLATFORM_ID_LEN],
            )
        )
        question_id = found.scalars().first()
        return await self.get(session, int(question_id)) if question_id is not None else None

    async def waiting(
        self, session: AsyncSession, community_id: int, asker_member_id: int | None = None
    ) -> list[QuestionInfo]:
        """Open questions, oldest first (``asker_member_id``: only theirs, any status)."""
        query = posts.placed(Question, by=Question.asker_member_id).where(
            Question.community_id == community_id
        )
        if asker_member_id is None:
            query = query.where(Question.status == OPEN)
        else:
            query = query.where(Question.asker_member_id == asker_member_id)
        rows = await session.execute(query.order_by(Question.asked_at, Question.id).limit(50))
        found = rows.all()
        counts = await self._answer_counts(session, [row.id for row, *_ in found])
        return [_question(r, p, c, a, counts.get(r.id, 0)) for r, p, c, a in found]

    async def _answer_counts(self, session: AsyncSession, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        rows = await session.execute(
            select(QuestionAnswer.question_id, func.count())
            .where(QuestionAnswer.question_id.in_(ids))
            .group_by(QuestionAnswer.question_id)
        )
        return {int(q): int(n) for q, n in rows.all()}

    async def home(self, session: AsyncSession, platform: str, user_id: str) -> int | None:
        """The community a private ``/ask`` goes to: of the account's communities on
        ``platform`` (not left), the one it was last active in."""
        rows = await session.execute(
            select(Member.community_id)
            .join(Community, Community.id == Member.community_id)
            .where(
                Community.platform == platform,
                Community.chat_type != "private",
                Member.platform_user_id == user_id[:PLATFORM_ID_LEN],
                Member.left_at.is_(None),
            )
            .order_by(Member.last_active_at.desc().nulls_last(), Member.id.desc())
            .limit(1)
        )
        found = rows.scalar_one_or_none()
        return int(found) if found is not None else None

    async def find_for(
        self, session: AsyncSession, platform: str, user_id: str, number: int
    ) -> QuestionInfo | None:
        """Question ``number`` among the account's communities on ``platform`` (a private
        ``/answer`` or ``/solved``): the one it took or asked first, else the community it
        was last active in."""
        rows = await session.execute(
            select(Question.id, Question.taken_by_member_id, Question.asker_member_id, Member.id)
            .join(Member, Member.community_id == Question.community_id)
            .join(Community, Community.id == Member.community_id)
            .where(
                Community.platform == platform,
                Community.chat_type != "private",
                Member.platform_user_id == user_id[:PLATFORM_ID_LEN],
                Question.number == number,
            )
            .order_by(Member.last_active_at.desc().nulls_last(), Member.id.desc())
        )
        found = rows.all()
        if not found:
            return None
        mine = [q for q, taker, asker, m in found if m in (taker, asker)]
        return await self.get(session, int(mine[0] if mine else found[0][0]))

    async def take(self, session: AsyncSession, question_id: int, member_id: int) -> bool:
        """An expert takes an open question (the latest taker is kept); ``False`` if closed."""
        result = await session.execute(
            update(Question)
            .where(Question.id == question_id, Question.status == OPEN)
            .values(taken_by_member_id=member_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- answering ---------------------------------------------------------------------------
    async def answer(
        self,
        session: AsyncSession,
        *,
        question_id: int,
        answerer_member_id: int,
        text: str,
        key: str,
        now: datetime,
    ) -> Answer:
        """Add an answer to an open question, numbered next in it."""
        lock = select(Question.status, Question.first_answer_at).where(Question.id == question_id)
        if self.db.dialect == "postgresql":
            lock = lock.with_for_update()
        status, first_at = (await session.execute(lock)).one()
        if status != OPEN:
            return Answer(None, closed=True)
        known = await session.execute(
            select(QuestionAnswer.id).where(QuestionAnswer.create_key == key)
        )
        if known.first() is not None:
            return Answer(None)
        last = await session.execute(
            select(func.max(QuestionAnswer.number)).where(QuestionAnswer.question_id == question_id)
        )
        number = (last.scalar_one() or 0) + 1
        answer_id = await self.db.insert_once(
            session,
            QuestionAnswer.__table__,
            "create_key",
            {
                "question_id": question_id,
                "number": number,
                "answerer_member_id": answerer_member_id,
                "text": text,
                "create_key": key,
                "created_at": now,
            },
        )
        if answer_id is None:
            return Answer(None)
        first = first_at is None
        if first:
            await session.execute(
                update(Question)
                .where(Question.id == question_id, Question.first_answer_at.is_(None))
                .values(first_answer_at=now)
            )
        return Answer(await self.answer_by_id(session, answer_id), first=first)

    async def answer_by_id(self, session: AsyncSession, answer_id: int) -> AnswerInfo | None:
        found = await session.execute(
            select(QuestionAnswer, Member)
            .join(Member, Member.id == QuestionAnswer.answerer_member_id)
            .where(QuestionAnswer.id == answer_id)
        )
        row = found.first()
        if row is None:
            return None
        a, member = row
        return AnswerInfo(
            a.id, a.question_id, a.number, MemberInfo.of(member), a.text, a.created_at
        )

    async def answer_by_number(
        self, session: AsyncSession, question_id: int, number: int | None
    ) -> AnswerInfo | None:
        """Answer ``number`` of the question; ``None`` number: its latest answer."""
        query = select(QuestionAnswer.id).where(QuestionAnswer.question_id == question_id)
        if number is None:
            query = query.order_by(QuestionAnswer.number.desc()).limit(1)
        else:
            query = query.where(QuestionAnswer.number == number)
        found = (await session.execute(query)).scalar_one_or_none()
        return await self.answer_by_id(session, int(found)) if found is not None else None

    # -- closing -----------------------------------------------------------------------------
    async def accept(
        self,
        session: AsyncSession,
        points: PointsService,
        *,
        question: QuestionInfo,
        answer: AnswerInfo,
        by_member_id: int,
        amount: int,
        now: datetime,
    ) -> Closed:
        """Close the question with ``answer`` accepted, in one conditional ``UPDATE``; the
        answerer earns ``amount`` points once (never for answering their own question)."""
        if answer.question_id != question.id:
            return Closed(False, problem="no_answer")
        result = await session.execute(
            update(Question)
            .where(Question.id == question.id, Question.status == OPEN)
            .values(
                status=SOLVED,
                accepted_answer_id=answer.id,
                closed_at=now,
                closed_by_member_id=by_member_id,
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return Closed(False, problem="already")
        paid = False
        if amount > 0 and answer.answerer.id != question.asker.id:
            paid = await points.award(
                session,
                community_id=question.community_id,
                member_id=answer.answerer.id,
                amount=amount,
                why=PointsReason.answer_accepted(question.id),
                now=now,
            )
        return Closed(True, paid=paid)

    async def self_served(
        self,
        session: AsyncSession,
        question_id: int,
        faq_number: int,
        by_member_id: int,
        now: datetime,
    ) -> bool:
        """Close an open question as answered by FAQ entry ``faq_number``."""
        result = await session.execute(
            update(Question)
            .where(Question.id == question_id, Question.status == OPEN)
            .values(
                status=SELF_SERVED,
                faq_number=faq_number,
                closed_at=now,
                closed_by_member_id=by_member_id,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def promoted(self, session: AsyncSession, question_id: int, faq_number: int) -> bool:
        """Note the FAQ entry a solved question's answer became; ``False`` if it was already."""
        result = await session.execute(
            update(Question)
            .where(
                Question.id == question_id,
                Question.status == SOLVED,
                Question.faq_number.is_(None),
            )
            .values(faq_number=faq_number)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- experts -----------------------------------------------------------------------------
    async def set_topics(
        self, session: AsyncSession, member_id: int, topics: Sequence[str], now: datetime
    ) -> None:
        """An expert's topics (none: answers anything)."""
        joined = ",".join(topics)
        statement = self.db.insert(ExpertTopics.__table__).values(
            member_id=member_id, topics=joined, updated_at=now
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["member_id"], set_={"topics": joined, "updated_at": now}
            )
        )

    async def experts(
        self, session: AsyncSession, community_id: int
    ) -> list[tuple[MemberInfo, tuple[str, ...]]]:
        """The community's granted experts still here, with their topics."""
        rows = await session.execute(
            select(Member, ExpertTopics.topics)
            .join(MemberRole, and_(MemberRole.member_id == Member.id, MemberRole.role == "expert"))
            .outerjoin(ExpertTopics, ExpertTopics.member_id == Member.id)
            .where(
                Member.community_id == community_id,
                Member.left_at.is_(None),
                Member.is_bot.is_(False),
            )
            .order_by(Member.id)
        )
        return [
            (MemberInfo.of(m), tuple(t for t in (topics or "").split(",") if t))
            for m, topics in rows.all()
        ]

    async def told(
        self,
        session: AsyncSession,
        question_id: int,
        member_ids: Sequence[int],
        wave: int,
        now: datetime,
    ) -> set[int]:
        """Note these experts told about the question; the ones told now (never twice)."""
        if not member_ids:
            return set()
        table = QuestionNotice.__table__
        rows = await session.execute(
            self.db.insert(table)
            .values(
                [
                    {"question_id": question_id, "member_id": m, "wave": wave, "sent_at": now}
                    for m in member_ids
                ]
            )
            .on_conflict_do_nothing(index_elements=["question_id", "member_id"])
            .returning(table.c.member_id)
        )
        return {int(m) for m in rows.scalars()}

    # -- routing -----------------------------------------------------------------------------
    async def claim_route(self, session: AsyncSession, now: datetime) -> DueRoute | None:
        """The next due wave, claimed in one ``UPDATE`` (see ``storage/claims.py``)."""
        claimed = await claims.claim_due(session, self.db, QuestionRoute, now, limit=1)
        if not claimed:
            return None
        found = await session.execute(
            select(QuestionRoute.question_id, QuestionRoute.wave).where(
                QuestionRoute.id == claimed[0]
            )
        )
        question_id, wave = found.one()
        return DueRoute(claimed[0], int(question_id), int(wave))

    async def route_done(self, session: AsyncSession, route_id: int) -> None:
        await session.execute(
            update(QuestionRoute)
            .where(QuestionRoute.id == route_id, QuestionRoute.status == SENDING)
            .values(status=SENT)
        )

    async def abandon_stale(self, session: AsyncSession, claimed_before: datetime) -> int:
        return await claims.abandon_stale(session, QuestionRoute, claimed_before)

    # -- figures -----------------------------------------------------------------------------
    async def figures(
        self, session: AsyncSession, community_id: int, since: datetime, now: datetime
    ) -> QuestionFigures:
        """Q&A figures of questions asked since ``since`` (answers given since then)."""
        rows = await session.execute(
            select(Question.asked_at, Question.first_answer_at).where(
                Question.community_id == community_id, Question.asked_at >= since
            )
        )
        asked = rows.all()
        waits = [(f - a).total_seconds() / 60 for a, f in asked if f is not None]
        day = timedelta(hours=24)
        aged = [(a, f) for a, f in asked if now - a >= day]
        unanswered = sum(1 for a, f in aged if f is None or f - a > day)
        return QuestionFigures(
            asked=len(asked),
            answered=len(waits),
            median_first_answer_minutes=median(waits) if waits else None,
            aged=len(aged),
            unanswered_24h=unanswered,
            answers_per_member=await self.top_answerers(session, community_id, since),
        )

    async def top_answerers(
        self,
        session: AsyncSession,
        community_id: int,
        since: datetime | None = None,
        limit: int = 10,
    ) -> list[tuple[int, int]]:
        """(member id, answers given to others' questions), most first; ties: who answered
        first."""
        query = (
            select(QuestionAnswer.answerer_member_id, func.count(QuestionAnswer.id))
            .join(Question, Question.id == QuestionAnswer.question_id)
            .where(
                Question.community_id == community_id,
                QuestionAnswer.answerer_member_id != Question.asker_member_id,
            )
            .group_by(QuestionAnswer.answerer_member_id)
        )
        if since is not None:
            query = query.where(QuestionAnswer.created_at >= since)
        query = query.order_by(
            func.count(QuestionAnswer.id).desc(), func.min(QuestionAnswer.id)
        ).limit(limit)
        return [(int(m), int(n)) for m, n in (await session.execute(query)).all()]
