"""Claiming due rows for sending, at most once: the shared lifecycle of the outbox
(``scheduled_sends``) and members' reminders (``reminders``).

Such a table has ``id``, ``status``, ``due_at`` and ``claimed_at`` columns. A tick takes due
rows by one conditional ``UPDATE ... SET status = 'sending' WHERE status = 'pending' ...
RETURNING id``: each row goes to one caller (on PostgreSQL the due rows are picked ``FOR UPDATE
SKIP LOCKED``, so two bot processes take different rows; on SQLite writers are serial). The
caller marks a row ``sent`` after it went out. A process stopped between sending and marking
leaves the row ``sending``; a later tick marks rows claimed long ago ``unsure`` and never sends
them again: a message may be missing, never doubled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database

__all__ = ["PENDING", "SENDING", "SENT", "UNSURE", "abandon_stale", "claim_due"]

PENDING, SENDING, SENT, UNSURE = "pending", "sending", "sent", "unsure"


async def claim_due(
    session: AsyncSession,
    db: Database,
    model: Any,
    now: datetime,
    *,
    limit: int | None = None,
    also: dict[str, Any] | None = None,
) -> list[int]:
    """Take ``model``'s rows due by ``now`` (soonest first, ``limit`` at most; all without
    one): ``pending -> sending`` with ``claimed_at = now`` (and the ``also`` values) in one
    ``UPDATE``; the ids this caller took."""
    due = (
        select(model.id)
        .where(model.status == PENDING, model.due_at <= now)
        .order_by(model.due_at, model.id)
        .limit(limit)
    )
    picked = due.cte("due")
    if db.dialect == "postgresql":
        # Picked once: as a plain ``IN (subquery)`` PostgreSQL may run the locking subquery
        # again for each row it updates, each run skipping the rows already taken, and so
        # claim more than ``limit``.
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
    claimed = await session.execute(
        update(model)
        .where(model.id.in_(select(picked.c.id)), model.status == PENDING)
        .values(status=SENDING, claimed_at=now, **(also or {}))
        .returning(model.id)
    )
    return [int(i) for i in claimed.scalars()]


async def abandon_stale(session: AsyncSession, model: Any, claimed_before: datetime) -> int:
    """Rows left ``sending`` by a stopped process (claimed before ``claimed_before``):
    ``unsure``, never sent again. How many."""
    result = await session.execute(
        update(model)
        .where(model.status == SENDING, model.claimed_at < claimed_before)
        .values(status=UNSURE)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
