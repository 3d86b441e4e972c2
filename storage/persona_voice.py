"""The operators' own voice and the persona's measured effect.

``persona_texts``: a community's replacements for persona texts (``/persona say KEY set``), by
language, consulted by the renderer before the pack's variants. They are few and small (at most
``MAX_KEYS`` keys of at most 10 variants per community and language), and rendering is
synchronous, so ``PersonaTextRepo`` holds the whole table in memory: loaded on first need,
written through by this process after each change, and read again every ``REFRESH`` so a change
made by another process is seen within that time.

``persona_sends``: the bot's greetings worth measuring (the persona's welcome, a reminder),
one row each,
with the preset that spoke, when a member replied to or reacted to it (``replied_at``), and for
a welcome when the welcomed member first spoke (``spoke_at``). A row is written when the
greeting is sent, never per ordinary message: only a message that replies to the bot is looked
up, by one guarded ``UPDATE``. Rows older than ``KEEP`` are deleted.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.db import Database

__all__ = [
    "FIRST_WORDS_WINDOW",
    "KEEP",
    "KEY_LEN",
    "KINDS",
    "MAX_KEYS",
    "REFRESH",
    "REPLY_WINDOW",
    "PersonaSend",
    "PersonaSendRepo",
    "PersonaText",
    "PersonaTextRepo",
    "PresetEffect",
    "as_row",
]

#: Longest persona key stored (the packs' longest is far shorter).
KEY_LEN = 96
#: Keys a community may replace per language.
MAX_KEYS = 50
#: How long a change made by another process may go unseen by this one.
REFRESH = timedelta(minutes=5)
#: A reply or reaction within this time of the greeting counts; later ones do not.
REPLY_WINDOW = timedelta(days=1)
#: A welcomed member's first message this long after the welcome still counts (later: the
#: welcome is left out of the median, as a member who never spoke).
FIRST_WORDS_WINDOW = timedelta(days=7)
#: Greetings measured, kept this long (the longest ``/stats persona`` period, 30 days, plus one).
KEEP = timedelta(days=31)
#: The kinds of greeting measured.
KINDS = ("welcome", "reminder")
#: The preset column of a send when the persona is no preset (its own name, tone...).
NO_PRESET = ""


class PersonaText(Base):
    """A community's replacement for one persona text in one language."""

    __tablename__ = "persona_texts"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    variants: Mapped[list[str]] = mapped_column(JSON())
    updated_at: Mapped[datetime]


class PersonaSend(Base):
    """One greeting the bot sent, and whether it was answered."""

    __tablename__ = "persona_sends"
    __table_args__ = (
        Index("ix_persona_sends_message", "community_id", "message_id"),
        Index("ix_persona_sends_sent", "community_id", "sent_at"),
        Index("ix_persona_sends_recipient", "recipient", "message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    #: Bound by the dispatcher once sent (a posted object of kind ``persona_send``).
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    kind: Mapped[str] = mapped_column(String(16))
    preset: Mapped[str] = mapped_column(String(32), default=NO_PRESET)
    #: Who got it privately (a reminder: its member's platform id), so that a reply in the
    #: private chat finds it; ``None`` for what was said in the group.
    recipient: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The welcomed member (welcomes only): their first message sets ``spoke_at``.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime]
    replied_at: Mapped[datetime | None]
    spoke_at: Mapped[datetime | None]


#: A greeting's message is a posted object: the dispatcher binds its id.
POSTED = posts.register("persona_send", PersonaSend)

Texts = dict[str, dict[str, tuple[str, ...]]]  # locale -> key -> variants


class PersonaTextRepo:
    """The replacements, held in memory (module docstring); one per ``Store``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._texts: dict[int, Texts] = {}
        self._loaded_at: datetime | None = None
        self._fresh_until = datetime.min.replace(tzinfo=UTC)
        #: One reading at a time: the events that find it stale together read it once.
        self._reading = asyncio.Lock()

    def of(self, community_id: int) -> Mapping[str, Mapping[str, tuple[str, ...]]]:
        """The community's replacements by language (empty when it has none or none are
        loaded yet)."""
        return self._texts.get(community_id, {})

    def stale(self, now: datetime) -> bool:
        """Asked for every event: two comparisons, nothing built."""
        loaded = self._loaded_at
        return loaded is None or not loaded <= now < self._fresh_until

    async def refresh(self, now: datetime, *, force: bool = False) -> None:
        """Read the whole table again when it was never read or ``REFRESH`` has passed."""
        if not force and not self.stale(now):
            return
        async with self._reading:
            if not force and not self.stale(now):
                return  # read by another event meanwhile
            async with self.db.transaction() as session:
                rows = (await session.execute(select(PersonaText))).scalars().all()
            self._texts = _grouped(rows)
            self._loaded_at, self._fresh_until = now, now + REFRESH

    async def reload(self, community_id: int) -> None:
        """Read one community's replacements again (after this process changed them); after
        any whole reading under way, so that one cannot put back what was there before."""
        async with self._reading:
            async with self.db.transaction() as session:
                rows = await self.list(session, community_id)
            self._texts.pop(community_id, None)
            self._texts.update(_grouped(rows))

    async def list(self, session: AsyncSession, community_id: int) -> list[PersonaText]:
        found = await session.execute(
            select(PersonaText)
            .where(PersonaText.community_id == community_id)
            .order_by(PersonaText.locale, PersonaText.key)
        )
        return list(found.scalars())

    async def count(self, session: AsyncSession, community_id: int, locale: str) -> int:
        found = await session.execute(
            select(func.count()).where(
                PersonaText.community_id == community_id, PersonaText.locale == locale
            )
        )
        return int(found.scalar_one())

    async def put(
        self,
        session: AsyncSession,
        community_id: int,
        locale: str,
        key: str,
        variants: Iterable[str],
        now: datetime,
    ) -> None:
        """Replace (or add) one key's variants: delete then insert, one transaction."""
        await self.remove(session, community_id, locale, key)
        await session.execute(
            insert(PersonaText).values(
                community_id=community_id,
                locale=locale,
                key=key,
                variants=list(variants),
                updated_at=now,
            )
        )

    async def remove(self, session: AsyncSession, community_id: int, locale: str, key: str) -> bool:
        found = await session.execute(
            delete(PersonaText).where(
                PersonaText.community_id == community_id,
                PersonaText.locale == locale,
                PersonaText.key == key,
            )
        )
        return bool(getattr(found, "rowcount", 0))

    async def clear(self, session: AsyncSession, community_id: int) -> None:
        await session.execute(delete(PersonaText).where(PersonaText.community_id == community_id))


def _grouped(rows: Iterable[PersonaText]) -> dict[int, Texts]:
    texts: dict[int, Texts] = {}
    for row in rows:
        variants = tuple(v for v in row.variants or () if isinstance(v, str) and v)
        if variants:
            texts.setdefault(row.community_id, {}).setdefault(row.locale, {})[row.key] = variants
    return texts


@dataclass(frozen=True, slots=True)
class PresetEffect:
    """How one preset's greetings did in a period."""

    preset: str
    welcomes: int
    welcomes_answered: int
    reminders: int
    reminders_answered: int
    #: Welcomed members who spoke, and the median time until their first message.
    spoke: int
    median_first_message: timedelta | None


class PersonaSendRepo:
    """Greetings sent, their replies and the welcomed members' first words."""

    async def record(
        self,
        session: AsyncSession,
        community_id: int,
        kind: str,
        preset: str,
        now: datetime,
        *,
        member_id: int | None = None,
        message_id: str | None = None,
        recipient: str | None = None,
    ) -> int:
        """One greeting about to be sent (its id is bound later) or just sent (``message_id``)."""
        found = await session.execute(
            insert(PersonaSend)
            .values(
                community_id=community_id,
                kind=kind,
                preset=preset,
                member_id=member_id,
                message_id=message_id,
                recipient=recipient,
                sent_at=now,
            )
            .returning(PersonaSend.id)
        )
        return int(found.scalar_one())

    async def answered(
        self, session: AsyncSession, community_id: int, message_id: str, now: datetime
    ) -> bool:
        """A reply or reaction to the bot's message ``message_id``: marks the greeting answered,
        once, when it is one and was sent less than ``REPLY_WINDOW`` ago."""
        found = await session.execute(
            update(PersonaSend)
            .where(
                PersonaSend.community_id == community_id,
                PersonaSend.message_id == message_id,
                PersonaSend.replied_at.is_(None),
                # No upper bound: platforms date messages to the second, so a quick reply
                # may seem to come a fraction of a second before the greeting.
                PersonaSend.sent_at >= now - REPLY_WINDOW,
            )
            .values(replied_at=now)
        )
        return bool(getattr(found, "rowcount", 0))

    async def answered_privately(
        self, session: AsyncSession, recipient: str, message_id: str, now: datetime
    ) -> bool:
        """A reply or reaction in a private chat to the bot's message ``message_id`` sent
        there to ``recipient`` (a reminder): marked answered once, within ``REPLY_WINDOW``."""
        found = await session.execute(
            update(PersonaSend)
            .where(
                PersonaSend.recipient == recipient,
                PersonaSend.message_id == message_id,
                PersonaSend.replied_at.is_(None),
                PersonaSend.sent_at >= now - REPLY_WINDOW,
            )
            .values(replied_at=now)
        )
        return bool(getattr(found, "rowcount", 0))

    async def spoke(self, session: AsyncSession, row_id: int, now: datetime) -> bool:
        """The welcomed member's first message: set once."""
        found = await session.execute(
            update(PersonaSend)
            .where(PersonaSend.id == row_id, PersonaSend.spoke_at.is_(None))
            .values(spoke_at=now)
        )
        return bool(getattr(found, "rowcount", 0))

    async def waiting(self, session: AsyncSession, now: datetime) -> list[tuple[int, int, int]]:
        """Welcomes of the last ``FIRST_WORDS_WINDOW`` whose member has not spoken yet:
        ``(row id, community id, member id)``."""
        found = await session.execute(
            select(PersonaSend.id, PersonaSend.community_id, PersonaSend.member_id).where(
                PersonaSend.kind == "welcome",
                PersonaSend.spoke_at.is_(None),
                PersonaSend.member_id.is_not(None),
                PersonaSend.sent_at >= now - FIRST_WORDS_WINDOW,
            )
        )
        return [(row_id, cid, mid) for row_id, cid, mid in found.all()]

    async def effect(
        self, session: AsyncSession, community_id: int, since: datetime, until: datetime
    ) -> list[PresetEffect]:
        """Per preset, the greetings sent in ``[since, until]``: how many were answered within a
        day, and the median time from a welcome to the welcomed member's first message."""
        s = PersonaSend
        where = and_(s.community_id == community_id, s.sent_at >= since, s.sent_at <= until)
        answered = and_(s.replied_at.is_not(None))
        counts = await session.execute(
            select(
                s.preset,
                func.sum(case((s.kind == "welcome", 1), else_=0)),
                func.sum(case((and_(s.kind == "welcome", answered), 1), else_=0)),
                func.sum(case((s.kind == "reminder", 1), else_=0)),
                func.sum(case((and_(s.kind == "reminder", answered), 1), else_=0)),
            )
            .where(where)
            .group_by(s.preset)
            .order_by(s.preset)
        )
        waits: dict[str, list[timedelta]] = {}
        spoken = await session.execute(
            select(s.preset, s.sent_at, s.spoke_at).where(
                where, s.kind == "welcome", s.spoke_at.is_not(None)
            )
        )
        for preset, sent_at, spoke_at in spoken.all():
            waits.setdefault(preset, []).append(max(timedelta(0), spoke_at - sent_at))
        return [
            PresetEffect(
                preset=preset,
                welcomes=int(w or 0),
                welcomes_answered=int(wa or 0),
                reminders=int(r or 0),
                reminders_answered=int(ra or 0),
                spoke=len(waits.get(preset, [])),
                median_first_message=_median(waits.get(preset, [])),
            )
            for preset, w, wa, r, ra in counts.all()
        ]

    async def prune(self, session: AsyncSession, now: datetime) -> int:
        found = await session.execute(delete(PersonaSend).where(PersonaSend.sent_at < now - KEEP))
        return int(getattr(found, "rowcount", 0) or 0)


def _median(waits: list[timedelta]) -> timedelta | None:
    if not waits:
        return None
    return timedelta(seconds=statistics.median(w.total_seconds() for w in waits))


def as_row(text: PersonaText) -> dict[str, Any]:
    """A replacement as ``/export`` writes it."""
    return {"locale": text.locale, "key": text.key, "variants": list(text.variants)}
