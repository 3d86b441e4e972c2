"""Private notices the platform refused (``Notify`` with ``fallback = "record"``): kept, so
what could not be said privately is not lost and can be shown to an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.richtext import RichText
from storage.models import PLATFORM_ID_LEN, REASON_LEN, UndeliverableNotice
from storage.text import clip

__all__ = ["NoticeRepo", "Undeliverable"]


@dataclass(frozen=True, slots=True)
class Undeliverable:
    id: int
    platform: str
    chat_id: str
    user_id: str
    text: RichText
    reason: str
    created_at: datetime


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
    ) -> int:
        """Keep a refused notice; returns its id."""
        result = await session.execute(
            insert(UndeliverableNotice)
            .values(
                platform=platform,
                chat_id=clip(chat_id, PLATFORM_ID_LEN) or chat_id,
                user_id=clip(user_id, PLATFORM_ID_LEN) or user_id,
                text=text.model_dump(mode="json"),
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
        return [
            Undeliverable(
                row.id,
                row.platform,
                row.chat_id,
                row.user_id,
                RichText.model_validate(row.text),
                row.reason,
                row.created_at,
            )
            for row in rows.scalars()
        ]
