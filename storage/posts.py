"""Posted objects: a message that stands for a row (a poll, a red packet, an event, a call
for submissions, a newcomer's gate question).

A handler posts such a message by returning a ``Send`` that carries the row's ``Anchor``
(``post``); once the platform answered with the new message's id, the dispatcher stores it
here (``PostsRepo.bind``), also when the send was kept across a restart as a waiting action
(the anchor travels in its JSON). Later edits find the id on the row (``edit``).

Where the id lives: a ``message_id`` column on the row itself, not a table of its own. Every
hot read of such a row (a grab, a vote, an answer) needs the id to edit the message and gets
it in the row fetch it makes anyway; a ``posted_messages(kind, row_id, ...)`` table would cost
a join or a second query on each press, and the row already knows its chat (its community)
and channel. What is shared is the binding: a storage module names its table once
(``register``), and one ``UPDATE`` by primary key binds any kind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Anchor, Button, Edit, Send
from bot.richtext import RichText
from storage.communities import Community
from storage.members import Member

__all__ = ["Posted", "PostsRepo", "edit", "fetch_placed", "kinds", "placed", "post", "register"]

log = logging.getLogger(__name__)

#: Kind -> the mapped class whose rows stand for posted messages (``id`` and ``message_id``).
_TABLES: dict[str, Any] = {}


def register(kind: str, model: Any) -> str:
    """Name ``model``'s rows as posted objects of ``kind`` (done by the module owning the
    table, at import); returns the kind. A kind names one table only."""
    columns = model.__table__.c
    if "id" not in columns or "message_id" not in columns:
        raise TypeError(f"{model.__name__} has no id and message_id columns to post")
    known = _TABLES.setdefault(kind, model)
    if known is not model:
        raise ValueError(f"posted kind {kind!r} names {known.__name__} already")
    return kind


def kinds() -> frozenset[str]:
    """The registered kinds (a test checks that every anchor a feature uses is one)."""
    return frozenset(_TABLES)


class Posted(Protocol):
    """What a posted object's info tells: its kind, its row, where its message is."""

    posted_kind: ClassVar[str]

    @property
    def id(self) -> int: ...

    @property
    def platform(self) -> str: ...

    @property
    def chat_id(self) -> str: ...

    @property
    def channel_id(self) -> str | None: ...

    @property
    def message_id(self) -> str | None: ...


Buttons = Sequence[Sequence[Button]]


def post(row: Posted, text: RichText, buttons: Buttons = ()) -> Send:
    """The message that stands for ``row``, anchored: once sent, its id is bound to the row."""
    return Send(
        platform=row.platform,
        chat_id=row.chat_id,
        channel_id=row.channel_id,
        text=text,
        buttons=tuple(tuple(line) for line in buttons),
        anchor=Anchor(kind=row.posted_kind, id=row.id),
    )


def edit(row: Posted, text: RichText, buttons: Buttons = ()) -> Edit | None:
    """An edit of ``row``'s message; ``None`` while no message is bound (never sent, refused,
    or still on its way)."""
    if not row.message_id:
        return None
    return Edit(
        platform=row.platform,
        chat_id=row.chat_id,
        channel_id=row.channel_id,
        message_id=row.message_id,
        text=text,
        buttons=tuple(tuple(line) for line in buttons),
    )


def placed(model: Any, by: Any = None) -> Select[Any]:
    """``model``'s rows with where their message goes, their community's platform and chat,
    and, given ``by`` (a member id column), that member: the row, ``platform``, ``chat_id``
    (and the ``Member``) per result row, in one query."""
    query = select(model, Community.platform, Community.chat_id).join(
        Community, Community.id == model.community_id
    )
    if by is not None:
        query = query.add_columns(Member).join(Member, Member.id == by)
    return query


async def fetch_placed(
    session: AsyncSession, model: Any, row_id: int, by: Any = None
) -> Row[Any] | None:
    """One row of ``placed``, by id (``None``: no such row)."""
    return (await session.execute(placed(model, by).where(model.id == row_id))).first()


class PostsRepo:
    """Binds and reads the message id of any registered kind."""

    async def bind(self, session: AsyncSession, anchor: Anchor, message_id: str) -> bool:
        """Store the message id of ``anchor``'s row; ``False`` (logged) for an unknown kind or
        a row that is gone. Binding again (a send repeated after a restart) keeps the latest."""
        model = _TABLES.get(anchor.kind)
        if model is None:
            log.error("message %s posted for unknown kind %r: not bound", message_id, anchor.kind)
            return False
        result = await session.execute(
            update(model).where(model.id == anchor.id).values(message_id=message_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def message_of(self, session: AsyncSession, anchor: Anchor) -> str | None:
        """The bound message id of ``anchor``'s row, if any."""
        model = _TABLES.get(anchor.kind)
        if model is None:
            return None
        found = await session.execute(select(model.message_id).where(model.id == anchor.id))
        return found.scalar_one_or_none()
