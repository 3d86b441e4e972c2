"""The console adapter: a local group chat in the terminal, for demos, scripts and tests.

You type as a member. Console commands (never seen by the bot):
``/as NAME`` switch member, ``/join NAME`` and ``/leave NAME`` simulate membership
(``/join NAME via LINK``: through an invite link ``/mylink`` gave),
``/admin NAME`` toggles group admin, ``/private`` and ``/group`` switch chat, ``/clock +1d``
moves the clock, ``/press N`` presses button N of the last message with buttons, ``/quit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.text import Text as RichLine

from adapters.base import Adapter, Host
from bot.actions import (
    Action,
    ActionResult,
    AnswerButton,
    Button,
    CreateInvite,
    DeclineReason,
    Delete,
    Edit,
    Notify,
    Reply,
    Send,
    SendImage,
    SendPoll,
)
from bot.clock import parse_offset
from bot.events import (
    ButtonPressed,
    Chat,
    ChatType,
    MemberJoined,
    MemberLeft,
    MessageEvent,
    User,
    clean_text,
    parse_command,
)
from bot.richtext import Bold, Code, Italic, Link, Mention, RichText

__all__ = ["ConsoleAdapter", "encode"]

GROUP_ID = "group"
_STYLE = {Bold: "bold", Italic: "italic", Code: "cyan", Link: "underline", Mention: "bold magenta"}


class MovableClock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> None: ...


def encode(text: RichText) -> RichLine:
    """Rich text for the terminal. Every segment is literal text: nothing is parsed as markup."""
    line = RichLine()
    for segment in text:
        if isinstance(segment, Mention):
            line.append("@" + segment.text, style=_STYLE[Mention])
        elif isinstance(segment, Link):
            line.append(f"{segment.text} ({segment.url})", style=_STYLE[Link])
        else:
            line.append(segment.text, style=_STYLE.get(type(segment)))
    return line


def user_id_for(name: str) -> str:
    return name.strip().casefold()


class ConsoleAdapter(Adapter):
    platform = "console"
    bot_username = "qunbot"
    stale_after = None  # the console's clock is moved on purpose: nothing is ever stale

    def __init__(
        self,
        *,
        user: str,
        chat_title: str,
        clock: MovableClock,
        zone: ZoneInfo,
        console: Console | None = None,
        on_clock_moved: Callable[[], Awaitable[object]] | None = None,
        image_dir: Path = Path("console-images"),
    ) -> None:
        self.console = console or Console(soft_wrap=True, highlight=False, emoji=False)
        self.clock = clock
        self.zone = zone
        self.on_clock_moved = on_clock_moved
        self.group = Chat(
            platform=self.platform, id=GROUP_ID, type=ChatType.GROUP, title=chat_title
        )
        #: The people the operator has typed as (``/as name``): bounded by what one person types
        #: at a local console, never by traffic.
        self.users: dict[str, User] = {}
        self.admins: set[str] = set()
        #: Members who opened a private chat with the bot (``/private``): only they can be
        #: written to privately, as on Telegram where a member must start the bot first.
        self.reachable: set[str] = set()
        #: Where pictures the bot sends are saved (the terminal shows their path).
        self.image_dir = image_dir
        self.current = self._user(user)
        self.private = False
        self.dispatcher: Host | None = None
        self._ids = itertools.count(1)
        # Update keys must not repeat across runs on the same database (dedupe keeps them 48 h).
        self._run = uuid.uuid4().hex[:12]
        #: Only the last message's buttons (replaced, never appended to).
        self._buttons: list[tuple[str, Button]] = []
        self._closed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, dispatcher: Host) -> None:
        self.dispatcher = dispatcher

    async def stop(self) -> None:
        self._closed.set()

    # -- state ----------------------------------------------------------------------------
    def _user(self, name: str) -> User:
        name = name.strip()
        key = user_id_for(name)
        if key not in self.users:
            self.users[key] = User(id=key, name=name)
        return self.users[key]

    @property
    def chat(self) -> Chat:
        if self.private:
            return Chat(platform=self.platform, id=f"dm:{self.current.id}", type=ChatType.PRIVATE)
        return self.group

    def _notice(self, text: str) -> None:
        self.console.print(RichLine(f"  [console] {text}", style="dim"))

    def _next(self) -> str:
        return str(next(self._ids))

    # -- input ----------------------------------------------------------------------------
    async def run_lines(self, lines: Iterable[str], *, echo: bool = True) -> None:
        """Replay lines as if typed, printing the transcript; stops at ``/quit``."""
        for raw in lines:
            line = clean_text(raw.rstrip("\n"))
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if echo:
                self.console.print(RichLine(f"{self.current.name}> {line}"))
            if not await self.feed(line):
                break

    def greet(self) -> None:
        """The first line a newcomer sees: what this is, where to start, how to be admin."""
        self._notice(
            f"This is {self.group.title}, a local group chat with the bot: type as"
            f" {self.current.name}, /help for the bot's commands, /admin {self.current.name}"
            " to become group admin, /quit (or Ctrl-C) to leave."
        )

    async def interactive(self) -> None:
        """Greet, then read lines from the terminal until ``/quit`` or end of input."""
        self.greet()
        while True:
            try:
                line = await _read_line(f"{self.current.name}> ")
            except UnicodeDecodeError:
                self._notice("that line is not UTF-8 text; nothing was sent")
                continue
            if line is None:
                return
            if line.strip() and not await self.feed(line):
                return

    async def feed(self, line: str) -> bool:
        """Handle one typed line; ``False`` means quit."""
        assert self.dispatcher is not None, "start() the adapter first"
        # Typed text is client input like any platform's: cleaned before it names a member
        # (``/as``, ``/join``) or becomes an event.
        line = clean_text(line)
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        match word.lower():
            case "/quit" | "/exit":
                return False
            case "/as" if rest:
                self.current = self._user(rest)
                self._notice(f"you are now {self.current.name}")
                return True
            case "/join" if rest:
                name, via, link = rest.rpartition(" via ")
                user = self._user(name.strip() if via and name.strip() else rest)
                joined = MemberJoined(
                    **self._base(self.group, user),
                    member=user,
                    invite_link=link.strip() or None if via and name.strip() else None,
                )
                await self._deliver(joined)
                return True
            case "/leave" if rest:
                user = self._user(rest)
                await self._deliver(MemberLeft(**self._base(self.group, user), member=user))
                return True
            case "/admin" if rest:
                user = self._user(rest)
                if user.id in self.admins:
                    self.admins.discard(user.id)
                    self._notice(f"{user.name} is no longer a group admin")
                else:
                    self.admins.add(user.id)
                    self._notice(f"{user.name} is now a group admin")
                return True
            case "/private":
                self.private = True
                self.reachable.add(self.current.id)
                self._notice(f"private chat between {self.current.name} and the bot")
                return True
            case "/group":
                self.private = False
                self._notice(f"back in {self.group.title}")
                return True
            case "/clock":
                return await self._move_clock(rest)
            case "/press":
                return await self._press(rest)
        await self._message(line)
        return True

    async def _move_clock(self, rest: str) -> bool:
        delta = parse_offset(rest) if rest else None
        if delta is None:
            self._notice("usage: /clock +1d | +3h | +30m")
            return True
        self.clock.advance(delta)
        local = self.clock.now().astimezone(self.zone)
        self._notice(f"clock moved to {local:%Y-%m-%d %H:%M} ({self.zone.key})")
        if self.on_clock_moved is not None:
            await self.on_clock_moved()
        return True

    async def _press(self, rest: str) -> bool:
        if not rest.isdigit() or not 1 <= int(rest) <= len(self._buttons):
            self._notice(f"usage: /press N (1 to {len(self._buttons)})")
            return True
        message_id, button = self._buttons[int(rest) - 1]
        if button.url is not None:  # a link: a member's client would open it
            self._notice(f"opens {button.url}")
            return True
        event = ButtonPressed(
            **self._base(self.chat, self.current),
            press_id=f"press-{self._next()}",
            message_id=message_id,
            data=button.data,
        )
        await self._deliver(event)
        return True

    def _base(self, chat: Chat, user: User) -> dict[str, object]:
        return {
            "platform": self.platform,
            "update_key": f"console-{self._run}-{self._next()}",
            "chat": chat,
            "sender": user,
            "at": self.clock.now(),
            "sender_is_admin": user.id in self.admins,
        }

    async def _message(self, line: str) -> None:
        mentions = tuple(
            self.users[user_id_for(token[1:])]
            for token in line.split()
            if token.startswith("@") and user_id_for(token[1:]) in self.users
        )
        base = self._base(self.chat, self.current)
        event = MessageEvent(
            **base,
            message_id=str(base["update_key"]).rsplit("-", 1)[1],
            text=line,
            command=parse_command(line, self.bot_username),
            mentions=mentions,
        )
        await self._deliver(event)

    async def _deliver(
        self, event: MessageEvent | MemberJoined | MemberLeft | ButtonPressed
    ) -> None:
        assert self.dispatcher is not None
        # Sequential on purpose: the transcript must read in the order it was typed.
        await self.dispatcher.handle(event)

    # -- output ---------------------------------------------------------------------------
    async def perform(self, action: Action) -> ActionResult:
        assert self.dispatcher is not None
        if isinstance(action, Reply | Send | Edit):
            name = await self.dispatcher.persona_name(self.platform, action.chat_id)
            message_id = action.message_id if isinstance(action, Edit) else f"m{self._next()}"
            prefix = f"{name}> " if not isinstance(action, Edit) else f"{name} (edited)> "
            if isinstance(action, Reply) and action.private:
                prefix = f"{name} (only you)> "
            line = RichLine(prefix, style="bold green")
            line.append_text(encode(action.text))
            self.console.print(line)
            self._show_buttons(message_id, action.buttons)
            return ActionResult.done(message_id)
        if isinstance(action, Notify):
            return await self._notify(action)
        if isinstance(action, SendImage):
            return await self._show_image(action)
        if isinstance(action, AnswerButton):
            if action.text:
                self._notice(f"(to the presser) {action.text}")
            return ActionResult.done()
        if isinstance(action, SendPoll):
            message_id = f"m{self._next()}"
            self.console.print(RichLine(f"[poll] {action.question}"))
            for number, option in enumerate(action.options, 1):
                self.console.print(RichLine(f"   {number}. {option}"))
            return ActionResult.done(message_id)
        if isinstance(action, Delete):
            self._notice(f"message {action.message_id} deleted")
            return ActionResult.done()
        if isinstance(action, CreateInvite):
            # A local stand-in, so a demo or script can show the whole referral flow: a
            # friend "/join NAME via LINK" is credited exactly as on Telegram.
            link = f"https://console.invalid/join/{self._next()}"
            self._notice(f"invite link for {action.name}: {link}")
            return ActionResult(ok=True, link=link)
        user_id = getattr(action, "user_id", None)
        if user_id is not None:
            who = self.users.get(user_id)
            self._notice(f"{action.kind}: {who.name if who else user_id}")
            return ActionResult.done()
        return ActionResult.declined(DeclineReason.UNSUPPORTED, action.kind)

    async def _notify(self, action: Notify) -> ActionResult:
        assert self.dispatcher is not None and action.user_id is not None
        who = self.users.get(action.user_id)
        if who is None or who.id not in self.reachable:
            return ActionResult.declined(
                DeclineReason.UNREACHABLE, "never opened a private chat with the bot"
            )
        name = await self.dispatcher.persona_name(self.platform, action.chat_id)
        prefix = f"{name} (privately to {who.name})> "
        line = RichLine(prefix, style="bold green")
        line.append_text(encode(action.text))
        self.console.print(line)
        message_id = f"m{self._next()}"
        self._show_buttons(message_id, action.buttons)
        uploads = [("picture", p.filename, p.png, p.caption) for p in action.pictures]
        if action.document is not None:
            document = action.document
            uploads.append(("file", document.filename, document.data, document.caption))
        for kind, filename, data, caption in uploads:
            # Later parts: the text is out, so a file not saved is told, not handed back.
            await self._save_and_show(prefix, kind, filename, data, caption)
        return ActionResult.done(message_id)

    async def _show_image(self, action: SendImage) -> ActionResult:
        """Save the picture under ``image_dir`` and print its path with the caption."""
        assert self.dispatcher is not None
        name = await self.dispatcher.persona_name(self.platform, action.chat_id)
        shown = await self._save_and_show(
            f"{name}> ", "picture", action.filename, action.png, action.caption
        )
        if isinstance(shown, OSError):
            return ActionResult.declined(DeclineReason.FAILED, str(shown))
        self._show_buttons(shown, action.buttons)
        return ActionResult.done(shown)

    async def _save_and_show(
        self, prefix: str, kind: str, filename: str, data: bytes, caption: RichText
    ) -> str | OSError:
        """Save a picture or file the bot sends under ``image_dir`` and print its path with
        its caption; its message id, or the error that kept it from being saved."""
        message_id = f"m{self._next()}"
        path = self.image_dir / f"{self._run}-{message_id}-{filename}"
        try:
            await asyncio.to_thread(_write_file, path, data)
        except OSError as error:
            self._notice(f"the {kind} could not be saved under {self.image_dir}: {error}")
            return error
        line = RichLine(f"{prefix}[{kind}: {path}]", style="bold green")
        if caption.plain().strip():
            line.append("\n")
            line.append_text(encode(caption))
        self.console.print(line)
        return message_id

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        if chat_id != GROUP_ID:
            return {}
        return {user_id: self.users[user_id].name for user_id in sorted(self.admins)}

    def _show_buttons(self, message_id: str, rows: tuple[tuple[Button, ...], ...]) -> None:
        buttons = [button for row in rows for button in row]
        if not buttons:
            return
        self._buttons = [(message_id, button) for button in buttons]
        labels = "  ".join(
            f"[{n}] {b.label}" + (f" ({b.url})" if b.url is not None else "")
            for n, b in enumerate(buttons, 1)
        )
        self.console.print(RichLine(f"   {labels}", style="cyan"))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return chat_id == GROUP_ID and user_id in self.admins


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _read_line(prompt: str) -> str | None:
    """One line typed at the terminal (``None`` at end of input).

    ``input`` blocks its thread until Enter. A daemon thread of its own (not the loop's
    executor, which ``asyncio.run`` waits for at exit) lets Ctrl-C end the program at the
    prompt: cancelling this coroutine leaves the thread to die with the process.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def deliver(line: str | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(line)

    def read() -> None:
        line: str | None = None
        error: BaseException | None = None
        try:
            line = input(prompt)
        except EOFError:
            line = None
        except BaseException as failure:  # handed to the loop, which re-raises it there
            error = failure
        with contextlib.suppress(RuntimeError):  # the loop closed while we waited
            loop.call_soon_threadsafe(deliver, line, error)

    threading.Thread(target=read, name="console input", daemon=True).start()
    return await answer


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()
