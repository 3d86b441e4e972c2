"""A community's own welcome and goodbye (``/setwelcome``, ``/setgoodbye``), and the last
custom welcome posted, so the next one can delete it (``[greetings]
delete_previous_welcome``).

One row per community: the templates as operators typed them (placeholders unexpanded,
checked by ``handlers.greetings`` before they are stored) and the message id of the last
welcome, bound by the dispatcher once the platform answered (the row is a posted object of
kind ``welcome``, ``storage.posts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage import posts
from storage.base import PLATFORM_ID_LEN, Base, Id
from storage.db import Database
from storage.members import Member

__all__ = ["POSTED", "TEMPLATE_LEN", "Welcome", "WelcomeRepo", "WelcomeTexts"]

#: The longest template operators may store (characters, as typed).
TEMPLATE_LEN = 2000


class Welcome(Base):
    """A community's welcome and goodbye templates and its last custom welcome's message."""

    __tablename__ = "welcomes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), unique=True
    )
    #: ``None``: the persona's own varied greeting.
    welcome_text: Mapped[str | None] = mapped_column(String(TEMPLATE_LEN))
    #: ``None``: no goodbye.
    goodbye_text: Mapped[str | None] = mapped_column(String(TEMPLATE_LEN))
    #: Where the last custom welcome went and its id (``None`` until one was posted).
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    updated_at: Mapped[datetime]


#: A custom welcome's message stands for its community's row (``storage.posts``).
POSTED = posts.register("welcome", Welcome)


@dataclass(frozen=True, slots=True)
class WelcomeTexts:
    """What a community stored: its row id (the anchor of a posted welcome), the templates,
    and where its last welcome is."""

    id: int
    welcome_text: str | None
    goodbye_text: str | None
    channel_id: str | None
    message_id: str | None


class WelcomeRepo:
    """The templates' verbs: each change is one statement on the community's row."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, session: AsyncSession, community_id: int) -> WelcomeTexts | None:
        row = (
            await session.execute(select(Welcome).where(Welcome.community_id == community_id))
        ).scalar_one_or_none()
        if row is None:
            return None
        return WelcomeTexts(
            row.id, row.welcome_text, row.goodbye_text, row.channel_id, row.message_id
        )

    async def _row(self, session: AsyncSession, community_id: int, now: datetime) -> int:
        """The community's row id, made once (its community is unique)."""
        made = await self.db.insert_once(
            session,
            Welcome.__table__,
            "community_id",
            {"community_id": community_id, "updated_at": now},
        )
        if made is not None:
            return made
        found = await session.execute(
            select(Welcome.id).where(Welcome.community_id == community_id)
        )
        return int(found.scalar_one())

    async def set_text(
        self,
        session: AsyncSession,
        community_id: int,
        which: str,
        text: str | None,
        now: datetime,
    ) -> None:
        """Store (``None``: forget) the ``welcome`` or ``goodbye`` template."""
        column = {"welcome": Welcome.welcome_text, "goodbye": Welcome.goodbye_text}[which]
        row_id = await self._row(session, community_id, now)
        await session.execute(
            update(Welcome)
            .where(Welcome.id == row_id)
            .values({column.key: text, Welcome.updated_at.key: now})
        )

    async def posting(
        self, session: AsyncSession, community_id: int, channel_id: str | None, now: datetime
    ) -> int:
        """A new welcome is about to go to ``channel_id``: the row it stands for (its id is
        bound there once sent)."""
        row_id = await self._row(session, community_id, now)
        await session.execute(
            update(Welcome).where(Welcome.id == row_id).values(channel_id=channel_id)
        )
        return row_id

    async def present(self, session: AsyncSession, community_id: int) -> int:
        """How many members the bot knows to be in the community now (``{count}``)."""
        counted = await session.execute(
            select(func.count())
            .select_from(Member)
            .where(Member.community_id == community_id, Member.left_at.is_(None))
        )
        return int(counted.scalar_one())
