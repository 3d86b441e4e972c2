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

Also shared: how such a row is made once (``create_once``, by a unique key of ``create_key``:
the platform update that asked, so a redelivered command makes nothing twice; handlers never
format keys) and how it is read with where its message goes (``placed``, ``placed_info``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Anchor, Button, Edit, Send
from bot.events import EventBase
from bot.richtext import RichText
from storage.communities import Community
from storage.db import Database
from storage.members import Member

__all__ = [
    "PlacedInfo",
    "Posted",
    "PostsRepo",
    "create_key",
    "create_once",
    "edit",
    "fetch_placed",
    "key_kind",
    "kinds",
    "placed",
    "placed_info",
    "placement",
    "post",
    "register",
    "row_key",
]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacedInfo:
    """What every posted object's info has (a ``Posted``): its row, where its message is. A
    kind's info extends it with its own fields and names its ``posted_kind``."""

    posted_kind: ClassVar[str]

    id: int
    community_id: int
    platform: str
    chat_id: str
    channel_id: str | None
    message_id: str | None = None


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


Info = TypeVar("Info")


def placement(row: Any, platform: str, chat_id: str) -> dict[str, Any]:
    """Where the message of ``row`` (of a ``placed`` result) goes: the row's id and community,
    its community's platform and chat, its channel."""
    return {
        "id": row.id,
        "community_id": row.community_id,
        "platform": platform,
        "chat_id": chat_id,
        "channel_id": row.channel_id,
    }


def placed_info(info: type[Info], row: Any, platform: str, chat_id: str, **fields: Any) -> Info:
    """``info`` (a posted object's dataclass) for ``row`` of ``placed``: what every posted row
    has (its ``placement`` and message id) and the kind's own ``fields``."""
    return info(**placement(row, platform, chat_id), message_id=row.message_id, **fields)


def create_key(kind: str, event: EventBase) -> str:
    """The key a command's row is created once by: the platform update that asked for it, so a
    redelivered command creates nothing twice. One format for every kind (``kind`` first: a
    feature may recognise its rows by that prefix)."""
    return f"{kind}:{event.platform}:{event.chat.id}:{event.update_key}"


def row_key(kind: str, row_id: int) -> str:
    """The key a row is created once by when another row asks for it (a call's poll): once
    per that row."""
    return f"{kind}:{row_id}"


def key_kind(key: str) -> str:
    """The ``kind`` a key of ``create_key`` or ``row_key`` was made with."""
    return key.partition(":")[0]


async def create_once(
    session: AsyncSession,
    db: Database,
    model: Any,
    key: str,
    values: Mapping[str, Any],
    children: tuple[Any, str, Sequence[Mapping[str, Any]]] | None = None,
) -> int | None:
    """Insert ``model``'s row unless one with the same unique ``key`` column (``values[key]``)
    exists; then its ``children``: (child model, the column naming the new row, the child rows
    without it). The new id, or ``None`` when that key made the row already (nothing written)."""
    row_id = await db.insert_once(session, model.__table__, key, dict(values))
    if row_id is not None and children is not None:
        child, parent, rows = children
        if rows:
            await session.execute(
                child.__table__.insert(), [{parent: row_id, **row} for row in rows]
            )
    return row_id


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
