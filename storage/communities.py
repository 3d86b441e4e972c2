"""Communities: one row per (platform, chat id), registered on first sight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import PLATFORM_ID_LEN, TITLE_LEN, Community
from storage.text import clip

__all__ = ["CommunityInfo", "CommunityRepo"]


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


class CommunityRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        table = Community.__table__
        title = clip(title, TITLE_LEN)
        stmt = self.db.insert(table).values(
            platform=platform,
            chat_id=clip(chat_id, PLATFORM_ID_LEN),
            chat_type=chat_type,
            title=title,
            settings={},
            active=True,
            created_at=now,
            updated_at=now,
        )
        refreshed: dict[str, Any] = {"chat_type": stmt.excluded.chat_type}
        if title is not None:
            refreshed["title"] = stmt.excluded.title
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.platform, table.c.chat_id], set_=refreshed
        ).returning(Community)
        row = (await session.execute(select(Community).from_statement(stmt))).scalar_one()
        return CommunityInfo.of(row)

    async def get(self, session: AsyncSession, community_id: int) -> CommunityInfo | None:
        row = await session.get(Community, community_id)
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
