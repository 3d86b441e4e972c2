"""Outbound actions kept across a shutdown: what was still waiting to be sent when the bot
stopped goes out after the restart.

Policy:

- A shutdown stores every action still waiting in a chat's outbound queue (and one in backoff
  after a 5xx or a refused connection), one row each, in the chat's order; a merged message is
  stored as the messages it was built from, which merge again after the restart. Button
  answers are not stored (a press is answered within seconds or never): the dispatcher drops
  them with a log line. Moderation (delete, restrict, ban...) is stored like messages: it is
  usually performed at once, so a row means the platform could not be reached; a restriction
  or ban whose ``until`` has passed by the restart is dropped, since Telegram reads an
  ``until`` in the past as "forever".
- A ``Notify`` is stored per member (a notice to a role whose holders were not yet looked
  up: as it is, split after the restart); a ``SendImage`` with its picture as base64 (at
  most 10 MB, about 13.4 MB of JSON): a picture is rare and small next to the restart's
  cost of losing it.
- A message that stands for a row (a poll, a red packet: a ``Send`` with an ``Anchor``) is
  stored with its anchor; its event finishes on ``ActionResult.persisted()``, and when the
  message goes out after the restart the dispatcher binds its id to the row
  (``storage.posts``), so it is edited later like any other. A handler waiting for a send
  itself (``ctx.perform``) hears ``persisted()`` and goes on without a message id.
- A send (or a kick: repeated later it would throw out a member who came back) already on
  the wire when the budget ran out is not stored again: like a timeout
  (``bot.governor.Unsure``) it may have arrived, and a duplicate is worse than a gap.
- After the restart the rows of each attached platform are queued again in ``id`` order and
  each row is deleted once its action was performed or finally refused. A kill after a send
  and before its row is deleted sends it again after the next restart: a reply may be
  repeated, never lost (at least once), as for updates redelivered by the platform.
- Rows are restored by the process that starts; two processes restoring one platform's rows
  at once would send them twice. Telegram allows one poller per token, so a second process
  on one token is already refused by Telegram.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Index, String, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.actions import Action, action_from_json, action_to_json
from storage.base import PLATFORM_ID_LEN, PLATFORM_LEN, Base, Id
from storage.db import Database

__all__ = ["WaitingAction", "WaitingRepo"]


class WaitingAction(Base):
    """An outbound action that was still waiting to be performed when the bot stopped; it goes
    out after the restart, in ``id`` order within its chat (see ``storage/waiting.py``)."""

    __tablename__ = "waiting_actions"
    __table_args__ = (Index("ix_waiting_actions_platform", "platform", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    #: ``Action.kind`` (reply, send, ban...), for an operator reading the table.
    kind: Mapped[str] = mapped_column(String(32))
    #: The whole action as ``bot.actions.action_to_json`` writes it.
    action: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]


log = logging.getLogger(__name__)


class WaitingRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        table = WaitingAction.__table__
        # Ids in the order given: the order of a chat's actions is the order of their ids.
        self._insert = insert(table).returning(table.c.id, sort_by_parameter_order=True)

    async def save(
        self, session: AsyncSession, actions: Sequence[Action], now: datetime
    ) -> list[int]:
        """Store actions in the order given (one statement); returns their ids, in order."""
        if not actions:
            return []
        rows = [
            {
                "platform": action.platform,
                "chat_id": action.chat_id,
                "kind": action.kind,
                "action": action_to_json(action),
                "created_at": now,
            }
            for action in actions
        ]
        return [row.id for row in await session.execute(self._insert, rows)]

    async def load(self, session: AsyncSession, platform: str) -> list[tuple[int, Action]]:
        """The platform's stored actions in their order. A row that is not an action any more
        (written by another version) is logged and deleted, never a reason not to start."""
        result = await session.execute(
            select(WaitingAction.id, WaitingAction.action)
            .where(WaitingAction.platform == platform)
            .order_by(WaitingAction.id)
        )
        found: list[tuple[int, Action]] = []
        unreadable: list[int] = []
        for row_id, data in result:
            try:
                found.append((row_id, action_from_json(data)))
            except ValidationError as error:
                log.error("waiting action %d cannot be read, dropped: %s", row_id, error)
                unreadable.append(row_id)
        await self.forget(session, unreadable)
        return found

    async def forget(self, session: AsyncSession, ids: Iterable[int]) -> int:
        """Delete rows whose actions were performed (or finally refused)."""
        wanted = list(ids)
        if not wanted:
            return 0
        result = await session.execute(delete(WaitingAction).where(WaitingAction.id.in_(wanted)))
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def count(self, session: AsyncSession, platform: str | None = None) -> int:
        query = select(func.count()).select_from(WaitingAction)
        if platform is not None:
            query = query.where(WaitingAction.platform == platform)
        return int((await session.execute(query)).scalar_one())
