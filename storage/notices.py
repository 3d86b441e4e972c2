"""Private notices the platform refused (``Notify`` with ``fallback = "record"``): kept, so
what could not be said privately is not lost and can be shown to an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.richtext import RichText
from storage.base import PLATFORM_ID_LEN, PLATFORM_LEN, REASON_LEN, Base, Id
from storage.text import clip

__all__ = ["NoticeRepo", "Undeliverable", "UndeliverableNotice"]


class UndeliverableNotice(Base):
    """A private notice (``Notify`` with ``fallback = "record"``) the platform refused: kept so
    an operator (or a later feature) can see who could not be reached, and with what."""

    __tablename__ = "undeliverable_notices"
    __table_args__ = (Index("ix_undeliverable_notices_user", "platform", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    #: The community's chat the notice was about.
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    user_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    #: The notice's rich text as JSON (``RichText.model_dump(mode="json")``); a notice that
    #: carried attachments adds ``"dropped": {"pictures": n, "files": n}``: how many, never
    #: their bytes, names or captions (private data, kept the least). ``RichText`` ignores
    #: the extra key, so no column was added for it.
    text: Mapped[dict[str, Any]] = mapped_column()
    #: What the platform said (``bot can't initiate conversation``...), clipped.
    reason: Mapped[str] = mapped_column(String(REASON_LEN))
    created_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class Undeliverable:
    id: int
    platform: str
    chat_id: str
    user_id: str
    text: RichText
    reason: str
    created_at: datetime
    #: Attachments the notice carried, dropped with it (only counted).
    dropped_pictures: int = 0
    dropped_files: int = 0


class NoticeRepo:
    async def record(
        self,
        session: AsyncSession,
        *,
        platform: str,
        chat_id: str,
        user_id: str,
        text: RichText,
        reason: str,
        now: datetime,
        dropped_pictures: int = 0,
        dropped_files: int = 0,
    ) -> int:
        """Keep a refused notice (with how many attachments it carried); returns its id."""
        kept: dict[str, Any] = text.model_dump(mode="json")
        if dropped_pictures or dropped_files:
            kept["dropped"] = {"pictures": dropped_pictures, "files": dropped_files}
        result = await session.execute(
            insert(UndeliverableNotice)
            .values(
                platform=platform,
                chat_id=clip(chat_id, PLATFORM_ID_LEN) or chat_id,
                user_id=clip(user_id, PLATFORM_ID_LEN) or user_id,
                text=kept,
                reason=clip(reason, REASON_LEN) or "-",
                created_at=now,
            )
            .returning(UndeliverableNotice.id)
        )
        return int(result.scalar_one())

    async def of_user(
        self, session: AsyncSession, platform: str, user_id: str
    ) -> list[Undeliverable]:
        """The account's refused notices, oldest first."""
        rows = await session.execute(
            select(UndeliverableNotice)
            .where(
                UndeliverableNotice.platform == platform,
                UndeliverableNotice.user_id == clip(user_id, PLATFORM_ID_LEN),
            )
            .order_by(UndeliverableNotice.id)
        )
        return [_undeliverable(row) for row in rows.scalars()]


def _undeliverable(row: UndeliverableNotice) -> Undeliverable:
    dropped = row.text.get("dropped") or {}
    return Undeliverable(
        row.id,
        row.platform,
        row.chat_id,
        row.user_id,
        RichText.model_validate({"segments": row.text.get("segments", [])}),
        row.reason,
        row.created_at,
        dropped_pictures=int(dropped.get("pictures", 0)),
        dropped_files=int(dropped.get("files", 0)),
    )
