"""Test helpers shared by the suites: an in-memory fake adapter and a dispatcher harness."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import struct
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.actions import Action, ActionResult, Button, Document, Notify, Picture, SendImage
from bot.adapter import Adapter
from bot.clock import FakeClock
from bot.config import Settings, StorageSettings
from bot.context import Context
from bot.dispatch import Dispatcher
from bot.events import (
    ButtonPressed,
    Chat,
    ChatType,
    MemberJoined,
    MemberLeft,
    MessageEvent,
    Reacted,
    ReplyTo,
    User,
    parse_command,
)
from bot.features import Arg, Feature, Registry
from bot.governor import Governor, Limits
from bot.richtext import Bold, RichText
from handlers import all_features
from persona import Renderer
from storage import Database, Store

PLATFORM = "fake"


class FakeAdapter(Adapter):
    """Records every action; can be told to decline or fail some kinds."""

    platform = PLATFORM
    bot_username = "qunbot"

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.admins: set[tuple[str, str]] = set()
        self.decline: dict[str, ActionResult] = {}
        self._ids = itertools.count(100)

    async def perform(self, action: Action) -> ActionResult:
        self.actions.append(action)
        if action.kind in self.decline:
            return self.decline[action.kind]
        if action.kind == "create_invite":
            return ActionResult(ok=True, link=f"https://fake.invalid/+{next(self._ids)}")
        return ActionResult.done(str(next(self._ids)))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return (chat_id, user_id) in self.admins

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        return {user_id: user_id for chat, user_id in sorted(self.admins) if chat == chat_id}

    def texts(self) -> list[str]:
        """The plain text of every message-like action, in order."""
        return [
            a.text.plain()
            for a in self.actions
            if hasattr(a, "text") and a.text is not None and hasattr(a.text, "plain")
        ]

    def take(self) -> list[Action]:
        taken, self.actions = self.actions, []
        return taken


def unlimited_governor() -> Governor:
    return Governor(Limits.unlimited())


@dataclass
class Harness:
    """A dispatcher over real storage with the fake adapter attached."""

    store: Store
    settings: Settings
    clock: FakeClock
    features: Iterable[Feature] | None = None
    adapter: FakeAdapter = field(default_factory=FakeAdapter)

    def __post_init__(self) -> None:
        self.registry = Registry(
            list(self.features) if self.features is not None else all_features(),
            self.settings.keywords,
        )
        self.dispatcher = Dispatcher(
            registry=self.registry,
            store=self.store,
            renderer=Renderer(),
            settings=self.settings,
            clock=self.clock,
        )
        self.dispatcher.attach(self.adapter, unlimited_governor())
        self._keys = itertools.count(1)
        # Before the test's database closes, the handled-stamps timer writes what waits and
        # ends (as a stopping bot does): left running, it takes a connection after the close
        # that nothing gives back, one per test, until PostgreSQL has no more to give.
        self.store.db.closing.insert(0, self.dispatcher._stop_stamping)

    # -- event builders ---------------------------------------------------------------------
    def user(self, name: str, *, username: str | None = None, is_bot: bool = False) -> User:
        return User(id=f"id-{name.casefold()}", name=name, username=username, is_bot=is_bot)

    def chat(self, chat_id: str = "g1", *, private: bool = False) -> Chat:
        kind = ChatType.PRIVATE if private else ChatType.GROUP
        return Chat(
            platform=PLATFORM, id=chat_id, type=kind, title=None if private else f"Group {chat_id}"
        )

    def _base(
        self, user: User | None, chat: Chat, key: str | None, at: datetime | None
    ) -> dict[str, Any]:
        return {
            "platform": PLATFORM,
            "update_key": key or f"u{next(self._keys)}",
            "chat": chat,
            "sender": user,
            "at": at or self.clock.now(),
        }

    def message(
        self,
        text: str,
        *,
        user: str | User = "Alice",
        chat: str = "g1",
        private: bool = False,
        key: str | None = None,
        reply_to: User | None = None,
        mentions: tuple[User, ...] = (),
        admin: bool | None = None,
    ) -> MessageEvent:
        sender = user if isinstance(user, User) else self.user(user)
        base = self._base(sender, self.chat(chat, private=private), key, None)
        return MessageEvent(
            **base,
            message_id=base["update_key"],
            text=text,
            command=parse_command(text, "qunbot"),
            reply_to=ReplyTo(message_id="earlier", sender=reply_to) if reply_to else None,
            mentions=mentions,
            sender_is_admin=admin,
        )

    def join(self, name: str | User, *, chat: str = "g1", key: str | None = None) -> MemberJoined:
        member = name if isinstance(name, User) else self.user(name)
        return MemberJoined(**self._base(member, self.chat(chat), key, None), member=member)

    def leave(self, name: str, *, chat: str = "g1") -> MemberLeft:
        member = self.user(name)
        return MemberLeft(**self._base(member, self.chat(chat), None, None), member=member)

    def press(self, data: str, *, user: str = "Alice", chat: str = "g1") -> ButtonPressed:
        return ButtonPressed(
            **self._base(self.user(user), self.chat(chat), None, None),
            press_id="press-1",
            message_id="m1",
            data=data,
        )

    def react(
        self,
        message_id: str,
        *,
        user: str | User = "Alice",
        added: tuple[str, ...] = ("👍",),
        removed: tuple[str, ...] = (),
        author: str | None = None,
        chat: str = "g1",
        key: str | None = None,
    ) -> Reacted:
        """``user`` changed their reactions to ``message_id`` (``author``: its writer's
        platform id, when the platform says)."""
        sender = user if isinstance(user, User) else self.user(user)
        return Reacted(
            **self._base(sender, self.chat(chat), key, None),
            message_id=message_id,
            author_id=author,
            added=added,
            removed=removed,
        )

    async def send(self, event: Any) -> list[Action]:
        """Handle one event and return the actions it produced."""
        self.adapter.actions.clear()
        await self.dispatcher.handle(event)
        return self.adapter.take()

    async def say(self, text: str, **kwargs: Any) -> list[str]:
        """Send a message and return the plain text of every reply."""
        return [
            a.text.plain()
            for a in await self.send(self.message(text, **kwargs))
            if hasattr(a, "text")
        ]


def make_settings(**sections: dict[str, Any]) -> Settings:
    """Settings from defaults plus the given sections (no file, no environment)."""
    data: dict[str, Any] = {"console": {"enabled": False}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Settings(**data)


async def a_member(store: Store, now: datetime, user: str = "1") -> tuple[int, int]:
    """(community id, member id) of member ``user`` of group ``g``, made if new: for storage
    tests that need someone to act on."""
    async with store.transaction() as s:
        c = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title=None, now=now
        )
        m = await store.members.record(
            s,
            community_id=c.id,
            platform_user_id=user,
            display_name=f"M{user}",
            username=None,
            is_bot=False,
            now=now,
        )
    return c.id, m.id


def where_it_waits(task: asyncio.Task[Any]) -> list[str]:
    """Where a pending task waits, outermost call first, following each ``await`` down to the
    innermost coroutine (``Task.get_stack`` stops at the task's own coroutine)."""
    lines: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            lines.append(f"awaiting {awaited!r}")
            break
        code = frame.f_code
        lines.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return lines


def open_database(storage: StorageSettings) -> Database:
    """The database ``[storage]`` names, opened as the bot opens it (its schema included)."""
    return Database(storage.url, schema=storage.schema)


def storage_environment(storage: StorageSettings) -> dict[str, str]:
    """``[storage]`` as the environment variables a ``qunbot`` process reads."""
    return {"QUNBOT_STORAGE__URL": storage.url, "QUNBOT_STORAGE__SCHEMA": storage.schema}


DONE = Button(label="Done", data="notices:done")


def png(width: int = 2, height: int = 1) -> bytes:
    """A real (tiny, grey) PNG picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PICTURE = png()
#: A CSV file a notice carries (``/sendme``): member data, private.
EXPORT = b"day,member,messages\n2026-11-26,Bob,3\n"


def notices() -> Feature:
    """``/tellme [mention|record]``: a private notice to the sender; ``/tellops``: to the
    community's admins; ``/sendme [mention|record]`` and ``/sendops``: the same with a
    picture and a CSV file attached; ``/picture``: a picture. A refusal recorded is told to
    the asker."""
    feature = Feature("notices")

    async def notify(ctx: Context, *, attached: bool = False, **target: str) -> object:
        attachments: dict[str, Any] = {}
        text = RichText.of("Reminder: ", Bold(text="water the plants"))
        if attached:
            text = RichText.of("Your weekly figures")
            caption = RichText.of("Active <b>members")
            attachments["pictures"] = (
                Picture(png=PICTURE, caption=caption, filename="active.png"),
            )
            attachments["document"] = Document(
                data=EXPORT,
                filename="活跃度-30d.csv",
                mime_type="text/csv",
                caption=RichText.of("30 days"),
            )
        notice = Notify(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            text=text,
            buttons=((DONE,),),
            fallback=ctx.args.get("how") or "mention",
            **attachments,
            **target,
        )
        result = await ctx.perform(notice)
        if not result.ok and result.detail == "recorded":
            return ctx.reply(f"declined.{result.reason}")
        return None

    how = [Arg("how", choices=("mention", "record"), required=False)]

    @feature.command("tellme", args=how)
    async def tellme(ctx: Context) -> object:
        assert ctx.sender is not None
        return await notify(ctx, user_id=ctx.sender.id)

    @feature.command("tellops", args=how)
    async def tellops(ctx: Context) -> object:
        return await notify(ctx, role="admin")

    @feature.command("sendme", args=how)
    async def sendme(ctx: Context) -> object:
        assert ctx.sender is not None
        return await notify(ctx, attached=True, user_id=ctx.sender.id)

    @feature.command("sendops", args=how)
    async def sendops(ctx: Context) -> object:
        return await notify(ctx, attached=True, role="admin")

    @feature.command("picture")
    async def picture(ctx: Context) -> SendImage:
        return SendImage(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            png=PICTURE,
            caption=RichText.of("This week's ", Bold(text="check-ins"), " <b>&"),
            buttons=((DONE,),),
            filename="week.png",
        )

    return feature


def load_tool(name: str) -> ModuleType:
    """A script of ``tools/`` (scripts, not a package), imported once under its own name."""
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules[name]
