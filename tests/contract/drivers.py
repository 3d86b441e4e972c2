"""Platform drivers for the contract suite: the real app, the real platform library, the
platform's fake server. A scenario speaks through a driver and reads back what members see,
so the same scenario runs on Telegram and on Discord and must end the same way."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.app import App
from bot.clock import Clock
from bot.config import Settings, StorageSettings
from bot.events import EventBase
from bot.features import Feature
from bot.governor import Governor
from handlers import all_features
from tests.support import where_it_waits


@dataclass(frozen=True)
class Person:
    """A member as scenarios name them; each driver maps them to platform ids."""

    number: int
    name: str
    username: str


@dataclass
class Seen:
    """What members saw in answer to one step: texts as rendered, and who got pinged."""

    texts: list[str] = field(default_factory=list)
    pinged: list[set[str]] = field(default_factory=list)  # platform user ids each message may ping
    private: list[bool] = field(default_factory=list)
    #: Messages deleted, and punishments as ("mute"|"ban"|"kick", platform user id).
    deleted: int = 0
    punished: list[tuple[str, str]] = field(default_factory=list)
    #: Buttons on the messages sent, as (message id, button data).
    buttons: list[tuple[str, str]] = field(default_factory=list)
    #: Link buttons on the messages sent, as (message id, label, url).
    links: list[tuple[str, str, str]] = field(default_factory=list)
    #: Notes only the presser saw (a button's answer), and messages edited, as seen.
    notes: list[str] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    #: Who got each message of ``texts`` privately (a platform user id), ``None`` in the group.
    to: list[str | None] = field(default_factory=list)
    #: Pictures sent, as (caption as seen, the uploaded PNG bytes).
    images: list[tuple[str, bytes]] = field(default_factory=list)
    #: Every upload (pictures and files), as (who got it privately or ``None`` in the group,
    #: its file name, caption as seen, its bytes).
    uploads: list[tuple[str | None, str, str, bytes]] = field(default_factory=list)
    #: The platform id of each message of ``texts`` (what ``Driver.reply`` replies to).
    message_ids: list[str] = field(default_factory=list)

    def message_of(self, part: str) -> str:
        """The id of the one message sent in this step whose text contains ``part``."""
        [found] = [m for m, text in zip(self.message_ids, self.texts, strict=True) if part in text]
        return found


class Driver(Protocol):
    """What a scenario may do on any platform. Commands are written ``/command`` and members
    ``@username``; each driver types them the way its platform's members do."""

    name: str

    def user_id(self, who: Person) -> str: ...
    async def start(
        self,
        *features: Feature,
        members: tuple[Person, ...] = (),
        admins: tuple[Person, ...] = (),
        **sections: Any,
    ) -> App: ...
    async def say(self, who: Person, text: str) -> Seen: ...
    async def say_again(self) -> Seen: ...
    async def reply(self, who: Person, text: str, to: str) -> Seen:
        """``who`` says ``text`` as a reply to the bot's message ``to`` (a platform message id,
        from ``Seen.message_ids``), as the platform's own reply button sends it."""
        ...

    async def join(self, who: Person, via: str | None = None) -> Seen:
        """``who`` joins the group; ``via``: through that invite link (as the bot showed it),
        told the way the platform tells it (Telegram names the link in ``chat_member``;
        Discord only moves the invite's uses by one)."""
        ...

    async def leave(self, who: Person) -> Seen:
        """``who`` leaves the group."""
        ...

    async def react(self, who: Person, emoji: str = "👍", *, added: bool = True) -> Seen:
        """``who`` adds (or takes back) a reaction to the last message said."""
        ...

    async def press(self, who: Person, data: str, message_id: str | None = None) -> Seen: ...
    async def restart(self) -> App: ...
    async def scheduled(self, run: Callable[[], Awaitable[object]]) -> Seen: ...
    def refuse_private(self, who: Person) -> None:
        """The platform refuses private messages to ``who`` from now on (Telegram: never
        started the bot; Discord: DMs closed, error 50007)."""

    async def stop(self) -> None: ...


class Handled:
    """The events the dispatcher finished, in order, so a driver waits for exactly its own:
    another event finishing meanwhile (a late one from start-up, a duplicate delivery) must not
    end a step before the bot has answered the one the step sent."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._changed = asyncio.Condition()

    @property
    def count(self) -> int:
        return len(self.keys)

    def __call__(self, event: EventBase, results: object) -> None:
        self.keys.append(event.update_key)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: self.count >= count)

    async def wait_for_own(self, since: int, mine: Callable[[str], bool]) -> None:
        """Until an event finished after the first ``since`` has an update key ``mine`` accepts."""

        def done() -> bool:
            return any(mine(key) for key in self.keys[since:])

        try:
            async with asyncio.timeout(10), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not finish the step's event; it finished {self.keys[since:]!r}"
            ) from None


def settings_for(tmp_path: Path, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}"},
        "console": {"enabled": False},
        # Scenarios run on the real date: a holiday's greeting must not change what a
        # scenario about something else sees on such a day (test_moments turns it on).
        "moments": {"calendar": "none"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Settings(**data)


#: How long starting or stopping the bot may take before the scenario fails (seconds).
START_WITHIN = 20.0
STOP_WITHIN = 20.0
#: How long tasks the bot started may outlive it (a callback finishing its last request).
TASKS_DONE_WITHIN = 5.0


class VirtualTime:
    """The governors' clock in the contract suite. Sends are paced exactly as on the platform
    (a Discord channel takes 5 messages per 5 s), but a wait moves this clock instead of the
    real one, so a scenario never sits idle while the windows empty."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + max(seconds, 0.0)
        await asyncio.sleep(0)  # others run meanwhile, as they would during a real wait
        self.now = max(self.now, target)


def describe(tasks: set[asyncio.Task[Any]]) -> str:
    """Each task's name and where it waits, for a failure message."""
    return "\n".join(
        f"{task.get_name()}: {' -> '.join(where_it_waits(task))}"
        for task in sorted(tasks, key=lambda t: t.get_name())
    )


class AppDriver:
    """Starting and stopping the real app, shared by the platform drivers. Stopping is
    bounded: a bot that does not stop, or leaves a task running, fails the scenario with
    the stacks of what is stuck instead of hanging the event loop's close."""

    name: str
    settings: Settings
    features: tuple[Feature, ...]
    handled: Handled
    app: App
    task: asyncio.Task[None]
    #: How long tasks started during the scenario may outlive the bot (seconds).
    tasks_done_within = TASKS_DONE_WITHIN
    #: The bot's clock; ``None``: the real one. A scenario that moves time (a reminder due in
    #: two hours) sets a ``FakeClock`` before ``start`` and advances it; ``restart`` keeps it.
    clock: Clock | None = None

    def __init__(
        self, tmp_path: Path, template: Path | None, storage: StorageSettings | None = None
    ) -> None:
        self.tmp_path = tmp_path
        #: Where the bot keeps its data (the ``app_storage`` fixture); None: ``contract.db``.
        self.storage = storage
        if template is not None and storage is None:
            # The schema the migrations make, copied: ``App.prepare`` finds it at head.
            shutil.copyfile(template, tmp_path / "contract.db")
        self._tasks_before = asyncio.all_tasks()

    def _with_storage(self, sections: dict[str, Any]) -> dict[str, Any]:
        """The scenario's sections, with ``[storage]`` from the driver's storage if it has one."""
        if self.storage is None or "storage" in sections:
            return sections
        return {"storage": self.storage.model_dump(), **sections}

    async def _launch(self) -> App:
        app = App(self.settings, clock=self.clock, features=[*all_features(), *self.features])
        app.handle_signals = False  # Ctrl-C and SIGTERM stay pytest's: they end the run
        # Scenarios run ticks themselves (``scheduled``) at the moment they choose; wall-clock
        # ticks (some every 10 s) would race them and be cut off mid-run by the stop.
        app.ticker.start = lambda: None  # type: ignore[method-assign]
        for platform, adapter in (("telegram", app.telegram), ("discord", app.discord)):
            if adapter is not None:
                clock = VirtualTime()
                limits = app.dispatcher.governors[platform].limits
                app.dispatcher.attach(
                    adapter, Governor(limits, monotonic=clock.monotonic, sleep=clock.sleep)
                )
        self.app, self.task = app, asyncio.create_task(app.run(), name=f"{self.name} bot")
        running = asyncio.create_task(app.running.wait(), name="bot running")
        done, _ = await asyncio.wait(
            {self.task, running}, timeout=START_WITHIN, return_when=asyncio.FIRST_COMPLETED
        )
        if running not in done:
            running.cancel()
            if self.task in done:
                self.task.result()  # raises why the bot ended
            raise AssertionError(f"the bot did not start within {START_WITHIN:.0f} s")
        app.dispatcher.observers.append(self.handled)
        return app

    async def restart(self) -> App:
        """Stop the bot and start it again on the same database (the fake server stays)."""
        await self._stop_app()
        return await self._launch()

    async def _stop_app(self) -> None:
        if not hasattr(self, "task"):
            return
        self.app.request_stop()
        done, _ = await asyncio.wait({self.task}, timeout=STOP_WITHIN)
        if not done:
            stuck = describe({self.task})
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=TASKS_DONE_WITHIN)
            raise AssertionError(f"the bot did not stop within {STOP_WITHIN:.0f} s:\n{stuck}")
        if not self.task.cancelled() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]

    async def _stop_fake(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop the bot, then the fake server; then every task started since the driver was
        made must be done (what is left would be cancelled at the loop's close, where a task
        that ignores cancellation hangs the whole run)."""
        try:
            await self._stop_app()
        finally:
            await self._stop_fake()
        current = asyncio.current_task()
        left = {t for t in asyncio.all_tasks() if t not in self._tasks_before and t is not current}
        if left:
            _, left = await asyncio.wait(left, timeout=self.tasks_done_within)
        if left:
            stuck = describe(left)
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=self.tasks_done_within)
            raise AssertionError(f"tasks still running after the bot stopped:\n{stuck}")


def visible_html(markup: str) -> str:
    """What a Telegram member sees of an HTML message."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def visible_markdown(content: str, names: Callable[[str], str]) -> str:
    """What a Discord member sees of a markdown message: mentions show names, formatting
    marks vanish, escaped characters show as themselves."""
    text = re.sub(r"(?<!\\)\*\*", "", content)  # bold marks (unescaped ones only)
    text = re.sub(r"<@!?(\d+)>", lambda m: "@" + names(m.group(1)), text)
    text = re.sub(r"\\([^\w\s])", r"\1", text)
    return text.replace("@\u200b", "@").replace("<@\u200b", "<@")


class TelegramDriver(AppDriver):
    """Telegram: python-telegram-bot polling the fake Bot API."""

    name = "telegram"
    group = -1001234567890
    bot_id = 123456
    token = "123456:CONTRACT"

    def __init__(
        self, tmp_path: Path, template: Path | None = None, storage: StorageSettings | None = None
    ) -> None:
        from tests.adapters.telegram.fake_bot_api import FakeBotAPI

        super().__init__(tmp_path, template, storage)
        self.fake = FakeBotAPI(token=self.token, bot_id=self.bot_id, username="qunbot_bot")
        self.handled = Handled()
        self.last: dict[str, Any] | None = None
        #: The id of the last message a member said (what ``react`` reacts to).
        self.said: int | None = None

    def user_id(self, who: Person) -> str:
        return str(1000 + who.number)

    async def start(
        self,
        *features: Feature,
        members: tuple[Person, ...] = (),
        admins: tuple[Person, ...] = (),
        **sections: Any,
    ) -> App:
        await self.fake.start()
        self.fake.set_member(self.group, self.bot_id, "administrator")
        for who in admins:
            self.fake.set_member(
                self.group, int(self.user_id(who)), "administrator", first_name=who.name
            )
        settings = settings_for(
            self.tmp_path,
            telegram={
                "token": self.token,
                "base_url": self.fake.base_url,
                "base_file_url": self.fake.base_file_url,
                "poll_timeout": 0.5,
            },
            **self._with_storage(sections),
        )
        self.settings, self.features = settings, features
        return await self._launch()

    _PUNISHMENTS = (("restrictChatMember", "mute"), ("banChatMember", "ban"))

    def _marks(self) -> tuple[int, dict[str, int]]:
        return len(self.fake.calls_to("deleteMessage")), {
            m: len(self.fake.calls_to(m)) for m, _ in self._PUNISHMENTS
        }

    def _consequences(self, seen: Seen, marks: tuple[int, dict[str, int]]) -> None:
        deleted, punished = marks
        seen.deleted = len(self.fake.calls_to("deleteMessage")) - deleted
        for method, name in self._PUNISHMENTS:
            for call in self.fake.calls_to(method)[punished[method] :]:
                permissions = str(call.params.get("permissions", "")).lower()
                lifted = name == "mute" and "'can_send_messages': true" in permissions
                seen.punished.append(("unmute" if lifted else name, str(call.user_id)))

    async def _step(self, update: dict[str, Any]) -> Seen:
        async def push() -> Callable[[str], bool]:
            self.last = self.fake.push_update(update)
            return self._keyed(self.last)

        return await self._capture(push, wait=True)

    @staticmethod
    def _keyed(update: dict[str, Any]) -> Callable[[str], bool]:
        """Whether an event's update key is this update's (``<bot id>:<update id>``)."""
        suffix = f":{update['update_id']}"
        return lambda key: key.endswith(suffix)

    async def scheduled(self, run: Callable[[], Awaitable[object]]) -> Seen:
        """What members saw while ``run`` (a tick) ran: no event to wait for."""
        return await self._capture(run, wait=False)

    @staticmethod
    def _buttons(seen: Seen, call: Any) -> None:
        keyboard = (call.get("reply_markup") or {}).get("inline_keyboard", [])
        seen.buttons += [
            (str(call.result["message_id"]), button["callback_data"])
            for row in keyboard
            for button in row
            if "callback_data" in button
        ]
        seen.links += [
            (str(call.result["message_id"]), button["text"], button["url"])
            for row in keyboard
            for button in row
            if "url" in button
        ]

    def refuse_private(self, who: Person) -> None:
        self.fake.refuse_private(self.user_id(who))

    async def _capture(self, act: Callable[[], Awaitable[object]], *, wait: bool) -> Seen:
        """What members saw while ``act`` ran; with ``wait``, until the bot finished the event
        whose update key the matcher ``act`` returns accepts."""
        before = len(self.fake.calls_to("sendMessage"))
        photos = len(self.fake.calls_to("sendPhoto"))
        documents = len(self.fake.calls_to("sendDocument"))
        notes = len(self.fake.calls_to("answerCallbackQuery"))
        edits = len(self.fake.calls_to("editMessageText"))
        marks = self._marks()
        count = self.handled.count
        mine = await act()
        if wait:
            assert callable(mine)
            await self.handled.wait_for_own(count, mine)
        seen = Seen()
        self._consequences(seen, marks)
        for call in self.fake.calls_to("sendMessage")[before:]:
            markup = call.text or ""
            seen.texts.append(visible_html(markup))
            seen.pinged.append(set(re.findall(r"tg://user\?id=(\d+)", markup)))
            private = isinstance(call.chat_id, int) and call.chat_id > 0
            seen.private.append(private)
            seen.to.append(str(call.chat_id) if private else None)
            seen.message_ids.append(str(call.result["message_id"]))
            self._buttons(seen, call)
        for call in self.fake.calls_to("sendPhoto")[photos:]:
            upload = self.fake.uploads[call.raw["photo"]["sha256"]]
            seen.images.append((visible_html(call.get("caption") or ""), upload))
            self._buttons(seen, call)
        uploads = [(c, "photo") for c in self.fake.calls_to("sendPhoto")[photos:]]
        uploads += [(c, "document") for c in self.fake.calls_to("sendDocument")[documents:]]
        for call, part in uploads:
            private = isinstance(call.chat_id, int) and call.chat_id > 0
            seen.uploads.append(
                (
                    str(call.chat_id) if private else None,
                    call.raw[part]["filename"],
                    visible_html(call.get("caption") or ""),
                    self.fake.uploads[call.raw[part]["sha256"]],
                )
            )
        seen.notes = [
            str(call.get("text") or "")
            for call in self.fake.calls_to("answerCallbackQuery")[notes:]
        ]
        seen.edits = [
            visible_html(c.text or "") for c in self.fake.calls_to("editMessageText")[edits:]
        ]
        return seen

    async def say(self, who: Person, text: str) -> Seen:
        from tests.adapters.telegram import fake_bot_api as tg

        update = tg.text_message(
            self.group, int(self.user_id(who)), text, first_name=who.name, username=who.username
        )
        self.said = int(update["message"]["message_id"])
        return await self._step(update)

    async def reply(self, who: Person, text: str, to: str) -> Seen:
        """The update carries the bot's message as ``reply_to_message``, as Telegram sends it
        (the fake kept what it answered to ``sendMessage``)."""
        from tests.adapters.telegram import fake_bot_api as tg

        original = self.fake.messages[(str(self.group), int(to))]
        update = tg.text_message(
            self.group,
            int(self.user_id(who)),
            text,
            first_name=who.name,
            username=who.username,
            reply_to=original,
        )
        self.said = int(update["message"]["message_id"])
        return await self._step(update)

    async def react(self, who: Person, emoji: str = "👍", *, added: bool = True) -> Seen:
        from tests.adapters.telegram import fake_bot_api as tg

        assert self.said is not None
        update = tg.message_reaction(
            self.group,
            int(self.user_id(who)),
            self.said,
            old=[] if added else [emoji],
            new=[emoji] if added else [],
            first_name=who.name,
            username=who.username,
        )
        return await self._step(update)

    async def say_again(self) -> Seen:
        assert self.last is not None
        before = len(self.fake.calls_to("sendMessage"))
        count = self.handled.count
        self.fake.push_update_again(self.last)
        await self.handled.wait_for_own(count, self._keyed(self.last))
        return Seen(
            texts=[visible_html(c.text or "") for c in self.fake.calls_to("sendMessage")[before:]]
        )

    async def join(self, who: Person, via: str | None = None) -> Seen:
        from tests.adapters.telegram import fake_bot_api as tg

        link = None
        if via is not None:
            [link] = [made for made in self.fake.invite_links if made["invite_link"] == via]
        update = tg.chat_member_update(
            self.group,
            int(self.user_id(who)),
            "left",
            "member",
            first_name=who.name,
            username=who.username,
            invite_link=link,
        )
        return await self._step(update)

    async def leave(self, who: Person) -> Seen:
        from tests.adapters.telegram import fake_bot_api as tg

        update = tg.chat_member_update(
            self.group,
            int(self.user_id(who)),
            "member",
            "left",
            first_name=who.name,
            username=who.username,
        )
        return await self._step(update)

    async def press(self, who: Person, data: str, message_id: str | None = None) -> Seen:
        from tests.adapters.telegram import fake_bot_api as tg

        update = tg.callback_query(
            self.group,
            int(self.user_id(who)),
            data,
            first_name=who.name,
            message_id=int(message_id or 1),
        )
        return await self._step(update)

    async def _stop_fake(self) -> None:
        await self.fake.stop()


class DiscordDriver(AppDriver):
    """Discord: the discord.py client on the fake gateway and REST server. Members type
    ``!command`` and mention with ``<@id>``, as they would in a real client."""

    name = "discord"
    guild = 1300000000000000001
    channel = 1300000000000000002

    def __init__(
        self, tmp_path: Path, template: Path | None = None, storage: StorageSettings | None = None
    ) -> None:
        from tests.adapters.discord.fake_discord import FakeDiscord

        super().__init__(tmp_path, template, storage)
        self.fake = FakeDiscord(
            bot_id=1300000000000000900, bot_name="qunbot", application_id=1300000000000000901
        )
        self.handled = Handled()
        self.people: dict[str, Person] = {}
        self.last: tuple[int, str, int] | None = None

    def user_id(self, who: Person) -> str:
        return str(1300000000000001000 + who.number)

    def _name(self, user_id: str) -> str:
        who = self.people.get(user_id)
        return who.name if who else user_id

    async def start(
        self,
        *features: Feature,
        members: tuple[Person, ...] = (),
        admins: tuple[Person, ...] = (),
        **sections: Any,
    ) -> App:
        await self.fake.start()
        self.fake.add_guild(self.guild, "Test Guild", channels=[(self.channel, "general")])
        for who in {*members, *admins}:
            self.people[self.user_id(who)] = who
            self.fake.add_member(
                self.guild,
                int(self.user_id(who)),
                who.username,
                global_name=who.name,
                permissions=8 if who in admins else None,
            )
        settings = settings_for(
            self.tmp_path,
            discord={
                "token": "contract",
                "api_base": self.fake.api_base,
                "gateway_url": self.fake.gateway_url,
                "guild_ready_timeout": 0.1,
            },
            **self._with_storage(sections),
        )
        self.settings, self.features = settings, features
        return await self._launch()

    def _posts(self) -> list[Any]:
        return self.fake.requests_to("POST", r"/channels/\d+/messages", status=200)

    def _marks(self) -> tuple[int, int, int]:
        return (
            len(self.fake.requests_to("DELETE", r"/channels/\d+/messages/\d+")),
            len(self.fake.requests_to("PATCH", rf"/guilds/{self.guild}/members/\d+")),
            len(self.fake.requests_to("PUT", rf"/guilds/{self.guild}/bans/\d+")),
        )

    def _consequences(self, seen: Seen, marks: tuple[int, int, int]) -> None:
        seen.deleted = (
            len(self.fake.requests_to("DELETE", r"/channels/\d+/messages/\d+")) - marks[0]
        )
        for request in self.fake.requests_to("PATCH", rf"/guilds/{self.guild}/members/\d+")[
            marks[1] :
        ]:
            body = request.json or {}
            if "communication_disabled_until" in body:
                kind = "mute" if body["communication_disabled_until"] else "unmute"
                seen.punished.append((kind, request.path.rsplit("/", 1)[1]))
        for request in self.fake.requests_to("PUT", rf"/guilds/{self.guild}/bans/\d+")[marks[2] :]:
            seen.punished.append(("ban", request.path.rsplit("/", 1)[1]))

    _CALLBACK = r"/interactions/\d+/[^/]+/callback"
    _EDIT = r"/channels/\d+/messages/\d+"

    async def _step(self, act: Callable[[], Awaitable[str]]) -> Seen:
        """``act`` returns the update key (or its start) of the event it sends."""

        async def sent() -> Callable[[str], bool]:
            key = await act()
            return lambda found: found == key or found.startswith(key + ":")

        return await self._capture(sent, wait=True)

    async def scheduled(self, run: Callable[[], Awaitable[object]]) -> Seen:
        """What members saw while ``run`` (a tick) ran: no event to wait for."""
        return await self._capture(run, wait=False)

    async def _capture(self, act: Callable[[], Awaitable[object]], *, wait: bool) -> Seen:
        """What members saw while ``act`` ran; with ``wait``, until the bot finished the event
        whose update key the matcher ``act`` returns accepts."""
        before = len(self._posts())
        known = set(self.fake.messages)
        callbacks = len(self.fake.requests_to("POST", self._CALLBACK))
        edits = len(self.fake.requests_to("PATCH", self._EDIT))
        marks = self._marks()
        count = self.handled.count
        mine = await act()
        if wait:
            assert callable(mine)
            await self.handled.wait_for_own(count, mine)
        seen = Seen()
        self._consequences(seen, marks)
        direct = {str(c.id): str(user) for user, c in self.fake.dm_channels.items()}
        for request in self._posts()[before:]:
            content = visible_markdown((request.json or {}).get("content") or "", self._name)
            recipient = direct.get(request.path.split("/")[2])
            if request.files:
                for upload in request.files:
                    seen.uploads.append((recipient, upload.filename, content, upload.data))
                if request.files[0].filename.endswith(".png"):
                    seen.images.append((content, request.files[0].data))
                continue
            seen.texts.append(content)
            mentions = request.json.get("allowed_mentions", {})
            seen.pinged.append(
                {str(u) for u in mentions.get("users", [])} | set(mentions.get("parse", []))
            )
            seen.private.append(recipient is not None)
            seen.to.append(recipient)
            seen.message_ids.append(str(request.response["id"]))
        for message_id, message in self.fake.messages.items():
            if message_id in known:
                continue
            for row in message.get("components") or []:
                seen.buttons += [
                    (str(message_id), button["custom_id"])
                    for button in row.get("components", [])
                    if "custom_id" in button
                ]
                seen.links += [
                    (str(message_id), button["label"], button["url"])
                    for button in row.get("components", [])
                    if "url" in button
                ]
        for request in self.fake.requests_to("POST", self._CALLBACK)[callbacks:]:
            body = request.json or {}
            data = body.get("data") or {}
            if body.get("type") == 4 and data.get("content"):
                seen.notes.append(visible_markdown(data["content"], self._name))
            elif body.get("type") == 7 and data.get("content"):
                seen.edits.append(visible_markdown(data["content"], self._name))
        seen.edits += [
            visible_markdown((r.json or {}).get("content", ""), self._name)
            for r in self.fake.requests_to("PATCH", self._EDIT)[edits:]
            if (r.json or {}).get("content")
        ]
        return seen

    async def say(self, who: Person, text: str) -> Seen:
        return await self._message(who, text)

    async def reply(self, who: Person, text: str, to: str) -> Seen:
        """MESSAGE_CREATE with ``message_reference`` and the bot's message as
        ``referenced_message``, as Discord sends a reply (the fake kept what the bot posted)."""
        return await self._message(who, text, to=int(to))

    async def _message(self, who: Person, text: str, to: int | None = None) -> Seen:
        self.people[self.user_id(who)] = who
        content = "!" + text[1:] if text.startswith("/") else text
        mentioned = []
        for person_id, person in self.people.items():
            token = f"@{person.username}"
            if token in content:
                content = content.replace(token, f"<@{person_id}>")
                mentioned.append(int(person_id))
        author = int(self.user_id(who))
        if author not in self.fake.guilds[self.guild].members:
            self.fake.add_member(self.guild, author, who.username, global_name=who.name)

        async def act() -> str:
            message_id = await self.fake.send_message_create(
                self.guild,
                self.channel,
                author,
                content,
                mentions=mentioned,
                referenced_message=to,
            )
            self.last = (author, content, message_id)
            return f"m{message_id}"

        return await self._step(act)

    async def say_again(self) -> Seen:
        assert self.last is not None
        author, content, message_id = self.last

        async def act() -> str:
            await self.fake.send_message_create(
                self.guild, self.channel, author, content, message_id=message_id
            )
            return f"m{message_id}"

        return await self._step(act)

    async def react(self, who: Person, emoji: str = "👍", *, added: bool = True) -> Seen:
        assert self.last is not None
        author, _content, message_id = self.last
        reactor = int(self.user_id(who))
        if reactor not in self.fake.guilds[self.guild].members:
            self.fake.add_member(self.guild, reactor, who.username, global_name=who.name)

        async def act() -> str:
            sent = await self.fake.reaction(
                self.guild, self.channel, message_id, reactor, emoji, added=added, author_id=author
            )
            assert sent, "the client did not ask for reactions"
            return f"r{message_id}:{reactor}:{emoji}:{'+' if added else '-'}"

        return await self._step(act)

    @staticmethod
    def _code(via: str | None) -> str | None:
        """An invite's code from its URL as the bot showed it (``https://discord.gg/CODE``)."""
        return via.rstrip("/").rsplit("/", 1)[-1] if via is not None else None

    async def join(self, who: Person, via: str | None = None) -> Seen:
        self.people[self.user_id(who)] = who

        async def act() -> str:
            await self.fake.member_join(
                self.guild, int(self.user_id(who)), who.name, invite=self._code(via)
            )
            return f"j{self.guild}:{self.user_id(who)}"

        return await self._step(act)

    async def join_together(self, *joins: tuple[Person, str]) -> Seen:
        """Several join, each through their invite, before the bot can look at the invites'
        uses in between (the uses all move first, then the joins arrive at once)."""
        for who, via in joins:
            self.people[self.user_id(who)] = who
            self.fake.invites[str(self._code(via))]["uses"] += 1
        keys = [f"j{self.guild}:{self.user_id(who)}:" for who, _via in joins]

        async def act() -> None:
            count = self.handled.count
            await asyncio.gather(
                *(self.fake.member_join(self.guild, int(self.user_id(w)), w.name) for w, _ in joins)
            )
            for key in keys:  # every join finished, not just the first
                await self.handled.wait_for_own(count, lambda found, key=key: found.startswith(key))

        return await self._capture(act, wait=False)

    async def leave(self, who: Person) -> Seen:
        async def act() -> str:
            await self.fake.member_remove(self.guild, int(self.user_id(who)))
            return f"l{self.guild}:{self.user_id(who)}"

        return await self._step(act)

    def refuse_private(self, who: Person) -> None:
        self.fake.close_dms(int(self.user_id(who)))

    async def _stop_fake(self) -> None:
        await self.fake.stop()

    async def press(self, who: Person, data: str, message_id: str | None = None) -> Seen:
        author = int(self.user_id(who))
        if author not in self.fake.guilds[self.guild].members:
            self.fake.add_member(self.guild, author, who.username, global_name=who.name)
        self.people[self.user_id(who)] = who

        async def act() -> str:
            interaction = await self.fake.send_button(
                self.guild, self.channel, author, data, message_id=int(message_id or 1)
            )
            return f"i{interaction}"

        return await self._step(act)
