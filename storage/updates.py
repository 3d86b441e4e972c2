"""Dedupe of platform updates by a unique (platform, update key) row, not a high-water mark,
and the record of which updates are still to be handled (their event kept until then)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import UPDATE_KEY_LEN, ProcessedUpdate

__all__ = ["UpdateRepo"]

#: Keys marked handled by one statement, at most.
MARK_CHUNK = 500


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
                handled_at=bindparam("processed_at"),
            )
            .on_conflict_do_nothing(index_elements=["platform", "update_key"])
            .returning(table.c.id)
        )
        self._mark = (
            update(table)
            .where(
                table.c.platform == bindparam("p"),
                table.c.update_key.in_(bindparam("k", expanding=True)),
            )
            .values(handled_at=bindparam("now"), event=None)
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
        self,
        session: AsyncSession,
        keys: list[tuple[str, str]],
        now: datetime,
        events: Mapping[tuple[str, str], str] | None = None,
    ) -> set[tuple[str, str]]:
        """Claim many updates in one statement; returns the (platform, key) pairs that were new.

        Rows are written in the order given (ids follow it: a replay after a restart handles
        them in that order), each with its event's JSON from ``events`` when given: such a
        row waits for :meth:`mark_handled`. A concurrent writer claiming the same keys in
        another order may deadlock on PostgreSQL; ``record_events`` retries those.
        """
        unique = list(dict.fromkeys(keys))
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
        stored = events or {}
        params = [
            {
                "platform": p,
                "update_key": k,
                "processed_at": now,
                "handled_at": None if (p, k) in stored else now,
                "event": stored.get((p, k)),
            }
            for p, k in unique
        ]
        return {(row.platform, row.update_key) for row in await session.execute(statement, params)}

    async def mark_handled(
        self, session: AsyncSession, keys: list[tuple[str, str]], now: datetime
    ) -> None:
        """Stamp updates handled and drop their kept events: one statement per platform and
        500 keys (an ``IN`` list costs far less than a statement per row)."""
        by_platform: dict[str, list[str]] = {}
        for platform, key in sorted(set(keys)):  # one lock order for every writer
            by_platform.setdefault(platform, []).append(key)
        for platform, platform_keys in by_platform.items():
            for start in range(0, len(platform_keys), MARK_CHUNK):
                chunk = platform_keys[start : start + MARK_CHUNK]
                await session.execute(self._mark, {"p": platform, "k": chunk, "now": now})

    async def unhandled(
        self, session: AsyncSession, platform: str, *, limit: int
    ) -> list[tuple[str, str]]:
        """The oldest recorded updates of ``platform`` not yet handled, as (key, event JSON),
        in recorded order."""
        rows = await session.execute(
            select(ProcessedUpdate.update_key, ProcessedUpdate.event)
            .where(
                ProcessedUpdate.platform == platform,
                ProcessedUpdate.handled_at.is_(None),
                ProcessedUpdate.event.is_not(None),
            )
            .order_by(ProcessedUpdate.id)
            .limit(limit)
        )
        return [(row.update_key, row.event) for row in rows]

    async def prune(self, session: AsyncSession, older_than: datetime) -> int:
        """Forget handled updates older than any platform redelivers (Telegram keeps them
        24 h); one still waiting to be handled stays."""
        result = await session.execute(
            delete(ProcessedUpdate).where(
                ProcessedUpdate.processed_at < older_than, ProcessedUpdate.handled_at.is_not(None)
            )
        )
        return result.rowcount or 0  # type: ignore[attr-defined]
