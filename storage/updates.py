"""Dedupe of platform updates by a unique (platform, update key) row, not a high-water mark."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import UPDATE_KEY_LEN, ProcessedUpdate

__all__ = ["UpdateRepo"]


class UpdateRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        table = ProcessedUpdate.__table__
        self._claim = (
            db.insert(table)
            .values(
                platform=bindparam("platform"),
                update_key=bindparam("update_key"),
                processed_at=bindparam("processed_at"),
            )
            .on_conflict_do_nothing(index_elements=["platform", "update_key"])
            .returning(table.c.id)
        )

    async def claim(
        self, session: AsyncSession, platform: str, update_key: str, now: datetime
    ) -> bool:
        """``True`` for the first delivery of an update, ``False`` for every redelivery."""
        if len(update_key) > UPDATE_KEY_LEN:
            raise ValueError(f"update key longer than {UPDATE_KEY_LEN} characters")
        params = {"platform": platform, "update_key": update_key, "processed_at": now}
        return (await session.execute(self._claim, params)).first() is not None

    async def claim_many(
        self, session: AsyncSession, keys: list[tuple[str, str]], now: datetime
    ) -> set[tuple[str, str]]:
        """Claim many updates in one statement; returns the (platform, key) pairs that were new."""
        unique = sorted(set(keys))  # one lock order for every writer: no deadlocks
        if not unique:
            return set()
        for _platform, key in unique:
            if len(key) > UPDATE_KEY_LEN:
                raise ValueError(f"update key longer than {UPDATE_KEY_LEN} characters")
        table = ProcessedUpdate.__table__
        statement = (
            self.db.insert(table)
            .on_conflict_do_nothing(index_elements=["platform", "update_key"])
            .returning(table.c.platform, table.c.update_key)
        )
        # Parameters apart from the statement: SQLAlchemy compiles it once and sends the rows
        # as batched multi-row VALUES ("insertmanyvalues"); building VALUES into the
        # statement would compile it anew each time.
        params = [{"platform": p, "update_key": k, "processed_at": now} for p, k in unique]
        return {(row.platform, row.update_key) for row in await session.execute(statement, params)}

    async def prune(self, session: AsyncSession, older_than: datetime) -> int:
        """Forget updates older than any platform redelivers (Telegram keeps them 24 h)."""
        result = await session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < older_than)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]
