"""Every in-memory cache is bounded or expires: far more keys than the bound keep it, expired
entries go when the fake clock moves, and what the cache is for still works (a flooder is
caught, a raid closes the gate, a busy chat stays paced, an admin check is cached)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.actions import Delete, Restrict
from bot.cache import BoundedCache
from bot.clock import FakeClock
from bot.events import MessageEvent
from bot.governor import Governor, Limits
from handlers import enforcement, gates, shared
from handlers.enforcement import flooding
from tests.support import Harness, make_settings
from tests.unit.test_governor import FakeTime


def harness_with(sqlite_db, clock, *, gates=None, **rules: object) -> Harness:  # type: ignore[no-untyped-def]
    from storage import Store

    sections: dict[str, Any] = {"rules": rules}
    if gates is not None:
        sections["gates"] = gates
    h = Harness(store=Store(sqlite_db), settings=make_settings(**sections), clock=clock)
    h.adapter.admins.add(("g1", "id-alice"))
    return h


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


# -- flood counters and matchers (handlers/enforcement.py) --------------------------------------
def test_flood_counters_keep_only_the_window_and_at_most_the_bound() -> None:
    """A member is kept only while a message is inside the window, with at most ``limit + 1``
    times; past the bound the least recently active go, and a flooder is still caught."""
    now = [1000.0]
    recent: BoundedCache[tuple[int, int], list[float]] = BoundedCache(100, clock=lambda: now[0])
    for member in range(10_000):  # far more members than the bound, one message each
        assert not flooding(recent, (1, member), now[0], 3, 10)
        assert len(recent) <= 100
    burst = [flooding(recent, (1, 7), now[0], 3, 10) for _ in range(4)]
    assert burst == [False, False, False, True]  # an active member is still caught
    for _ in range(3):
        flooding(recent, (1, 8), now[0], 3, 10)
    assert recent.get((1, 8)) == [1000.0] * 3  # never more than the limit between bursts
    now[0] += 10  # the window has passed: nothing is remembered any more
    assert list(recent) == []
    recent.prune()
    assert len(recent) == 0
    assert not flooding(recent, (1, 8), now[0], 3, 10)  # a fresh start after the window


async def test_flood_state_per_bot_is_bounded_and_expires_on_the_bots_clock(
    sqlite_db, clock, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(enforcement, "FLOOD_MEMBERS", 20)
    h = harness_with(sqlite_db, clock, flood_messages=3, flood_seconds=10, flood_action="mute")
    for n in range(60):
        assert await h.send(h.message(f"hello {n}", user=f"M{n}")) == []
    recent = h.dispatcher.state(enforcement.feature).recent
    assert len(recent) <= 20
    burst = [await h.send(h.message(f"again {n}", user="M59")) for n in range(3)]
    assert "Restrict" in kinds(burst[2])  # M59 had one message already: the fourth is flood
    h.clock.advance(timedelta(seconds=11))
    assert list(recent) == []


async def test_matchers_are_kept_for_a_bounded_number_of_communities(
    sqlite_db, clock, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(enforcement, "MATCHER_COMMUNITIES", 5)
    h = harness_with(sqlite_db, clock, words=["spam"], action="delete")
    for n in range(20):
        assert await h.send(h.message("hello", user="Bob", chat=f"g{n}")) == []
    own = h.dispatcher.state(enforcement.feature).matchers._own
    assert len(own) <= 5
    actions = await h.send(h.message("spam", user="Bob", chat="g0"))  # rebuilt when needed
    assert isinstance(actions[0], Delete)


# -- raid guard (handlers/gates.py) ------------------------------------------------------------
async def test_raid_guard_remembers_few_communities_and_only_inside_its_window(
    sqlite_db, clock, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gates, "RAID_COMMUNITIES", 5)
    h = harness_with(sqlite_db, clock, gates={"raid_joins": 2, "raid_seconds": 60})
    for n in range(20):
        await h.send(h.join(f"B{n}", chat=f"g{n}"))
    joins = h.dispatcher.state(gates.feature)
    assert len(joins) <= 5
    h.clock.advance(timedelta(seconds=61))
    assert list(joins) == []  # joins older than the window are forgotten
    for name in ("C1", "C2"):  # and the guard still counts a new burst from scratch
        assert not [a for a in await h.send(h.join(name)) if isinstance(a, Restrict)]
    assert any(isinstance(a, Restrict) for a in await h.send(h.join("C3")))


# -- governor windows and locks (bot/governor.py) ----------------------------------------------


def governor(time: FakeTime) -> Governor:
    return Governor(Limits(global_limit=10**9), monotonic=time.monotonic, sleep=time.sleep)


async def test_idle_chats_are_forgotten_and_busy_ones_keep_their_pacing() -> None:
    time = FakeTime()
    gov = governor(time)
    sent: list[float] = []

    async def send() -> None:
        sent.append(time.now)

    for _ in range(20):
        await gov.run("tg:busy", send)  # the busy chat's window is full for a minute
    for n in range(5_000):  # far more chats than any sweep interval, each sending once
        await gov.run(f"tg:g{n}", send)
    assert len(gov._chats) == 5_001  # nothing idle yet: every window is inside its minute
    time.now += 61  # every window's sends are now older than the period
    for n in range(5_000, 10_000):
        await gov.run(f"tg:g{n}", send)
    # The first 5,000 and the busy chat were swept on the way (sweeps are spread out: at most
    # about twice the chats active in the last minute are held).
    assert len(gov._chats) <= 2 * 5_000 + 64
    assert "tg:g0" not in gov._chats and "tg:busy" not in gov._chats


async def test_a_chat_in_its_window_or_in_use_survives_the_sweeps() -> None:
    time = FakeTime()
    gov = governor(time)
    sent: list[float] = []
    release = asyncio.Event()

    async def send() -> None:
        sent.append(time.now)

    async def slow() -> None:
        await release.wait()

    for _ in range(20):
        await gov.run("tg:busy", send)
    in_use = asyncio.create_task(gov.run("tg:slow", slow, counted=False))
    await asyncio.sleep(0)
    slow_chat = gov._chats["tg:slow"]
    for n in range(1_000):  # sweeps run meanwhile
        await gov.run(f"tg:other{n}", send)
    assert gov._chats["tg:slow"] is slow_chat  # a call is running: its chat is kept
    release.set()
    await in_use
    await gov.run("tg:busy", send)  # the 21st message still waits for its minute
    assert sent[-1] == pytest.approx(1060.0)


# -- getChatMember answers (adapters/telegram) ---------------------------------------------------


async def test_chat_member_answers_are_bounded_and_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from telegram import ChatMemberAdministrator, ChatMemberMember, User

    import adapters.telegram.perform as perform
    from adapters.telegram.translate import Translator

    monkeypatch.setattr(perform, "MEMBER_CACHE_SIZE", 50)
    asked: list[int] = []

    async def get_chat_member(chat_id: int, user_id: int) -> object:
        asked.append(user_id)
        user = User(user_id, "someone", False)
        if user_id == 7:
            return ChatMemberAdministrator(user, False, *([False] * 11))
        return ChatMemberMember(user)

    time = FakeTime()
    bot = SimpleNamespace(id=1, get_chat_member=get_chat_member)
    performer = perform.TelegramPerformer(
        bot,  # type: ignore[arg-type]
        Translator(1, "qunbot_bot"),
        cache_seconds=60,
        monotonic=time.monotonic,
    )
    for user_id in range(100, 1_100):  # far more members than the bound
        assert not await performer.is_admin("-100", str(user_id))
        assert len(performer._members) <= 50
    assert await performer.is_admin("-100", "7") and await performer.is_admin("-100", "7")
    assert asked.count(7) == 1  # cached
    time.now += 60
    assert list(performer._members) == []  # every answer has expired
    assert await performer.is_admin("-100", "7") and asked.count(7) == 2  # asked afresh
    for user_id in range(2_000, 2_100):  # later writes sweep the expired answers
        await performer.is_admin("-100", str(user_id))
    assert len(performer._members) <= 50 and ("-100", "100") not in performer._members._entries


# -- coalesced edits (handlers/shared.py) --------------------------------------------------------


class _Tick:
    """What ``CoalescedEdits`` reads of a ``TickContext``: its clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    @property
    def now(self) -> datetime:
        return self.clock.now()


def test_coalesced_edits_remember_an_edit_only_for_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared, "EDITS_KEPT", 100)
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    ctx: Any = _Tick(clock)
    edits = shared.CoalescedEdits(timedelta(seconds=3), clock)
    for key in range(1_000):  # far more live messages than the bound
        assert edits.now_or_later(ctx, key)
    edited = edits._edited
    assert len(edited) <= 100
    assert not edits.now_or_later(ctx, 999)  # edited a moment ago: held back, marked stale
    assert edits.take_stale(ctx) == [999]
    clock.advance(timedelta(seconds=3))
    assert list(edited) == []  # nothing holds an edit back any more
    assert edits.now_or_later(ctx, 999)


# -- chat types (bot/dispatch.py) and polls sent (adapters/telegram/translate.py) ----------------


def test_chat_types_and_poll_chats_are_bounded(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    from adapters.telegram.translate import Translator

    h = harness_with(sqlite_db, clock)
    chat_types = h.dispatcher._chat_types
    assert isinstance(chat_types, BoundedCache) and chat_types.max_size <= 100_000
    polls = Translator(1, "qunbot_bot").poll_chats
    for n in range(polls.max_size * 2):
        polls[f"poll{n}"] = "-100"
    assert len(polls) == polls.max_size <= 100_000
    assert polls.get(f"poll{polls.max_size * 2 - 1}") == "-100" and polls.get("poll0") is None


def test_translated_chats_and_senders_are_bounded_and_follow_renames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The translator keeps the event models of recent chats and senders (a message from a
    known sender is not validated anew), at most ``MODELS_KEPT`` each; a new name or title is
    a new model at once."""
    from telegram import Chat as TgChat
    from telegram import Message, Update
    from telegram import User as TgUser

    import adapters.telegram.translate as translate

    monkeypatch.setattr(translate, "MODELS_KEPT", 20)
    translator = translate.Translator(1, "qunbot_bot")
    when = datetime(2026, 1, 1, tzinfo=UTC)

    def sent(n: int, user: int, name: str, chat: int, title: str) -> MessageEvent:
        group = TgChat(chat, TgChat.SUPERGROUP, title=title)
        message = Message(n, when, group, from_user=TgUser(user, name, False), text="hi")
        [event] = translator.translate(Update(n, message=message))
        assert isinstance(event, MessageEvent)
        return event

    for n in range(200):  # far more senders and chats than the bound
        event = sent(n, 1000 + n, f"M{n}", -100 - n, f"G{n}")
        assert event.sender is not None and event.sender.id == str(1000 + n)
        assert event.chat.id == str(-100 - n) and event.chat.title == f"G{n}"
    assert len(translator._users) <= 20 and len(translator._chats) <= 20
    first = sent(300, 7, "Ann", -1, "Old")
    again = sent(301, 7, "Ann", -1, "Old")
    assert again.sender is first.sender and again.chat is first.chat  # kept
    renamed = sent(302, 7, "Ann B", -1, "New")
    assert renamed.sender is not None and renamed.sender.name == "Ann B"
    assert renamed.chat.title == "New"


# -- per-chat workers and queues (bot/dispatch.py) ------------------------------------------------


async def test_a_chats_worker_and_queue_go_when_its_events_are_handled(sqlite_db, clock) -> None:  # type: ignore[no-untyped-def]
    """The dispatcher keeps a queue and a worker only for chats with events waiting, and an
    outbound lane only while replies wait: each is dropped as soon as it is empty, so many chats
    passing through hold nothing."""
    h = harness_with(sqlite_db, clock)
    dispatcher = h.dispatcher
    futures = [
        dispatcher.submit(h.message(f"hello {n}", user=f"M{n}", chat=f"g{n}")) for n in range(300)
    ]
    assert len(dispatcher._to_record) == 300  # recorded together first, then one worker a chat
    await asyncio.gather(*futures)
    await dispatcher.drain()
    await dispatcher.flush()
    assert dispatcher._workers == {} and dispatcher._queues == {}
    assert not dispatcher._settling and not dispatcher._stamps and not dispatcher._waiting
    again = await dispatcher.submit(h.message("hello again", user="M1", chat="g1"))
    await dispatcher.drain()
    assert again == [] and dispatcher._workers == {}  # the chat is usable again, then dropped
    # Outbound lanes too: one per chat while its replies are being sent, then gone.
    answered = [dispatcher.submit(h.message("/rules", user="M1", chat=f"g{n}")) for n in range(50)]
    await asyncio.gather(*answered)
    await dispatcher.drain()
    assert len(h.adapter.texts()) >= 50 and dispatcher._lanes == {}


# -- Discord: nicknames, interactions, answer locks (adapters/discord) ----------------------------


@pytest.fixture
async def discord_time(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real Discord adapter (never connected) on a fake monotonic clock, with small bounds."""
    import adapters.discord.adapter as adapter_module
    import adapters.discord.perform as perform
    from bot.config import DiscordSettings

    monkeypatch.setattr(adapter_module, "NICKNAME_GUILDS", 50)
    monkeypatch.setattr(perform, "INTERACTIONS_KEPT", 40)
    time = FakeTime()
    adapter = adapter_module.DiscordAdapter(
        DiscordSettings(token="discord-test-token"), monotonic=time.monotonic
    )
    yield adapter, time
    await adapter.client.close()


async def test_discord_nicknames_are_bounded_and_an_evicted_one_is_looked_up_again(
    discord_time: Any,
) -> None:
    adapter, time = discord_time
    looked_up: list[str] = []

    async def persona_name(platform: str, chat_id: str) -> str:
        looked_up.append(chat_id)
        return "qunbot"

    adapter.dispatcher = SimpleNamespace(persona_name=persona_name)
    for guild_id in range(1_000):  # far more servers than the bound
        await adapter._follow_persona_name(SimpleNamespace(id=guild_id, me=None))
        assert len(adapter._nicknames) <= 50
    assert len(looked_up) == 1_000
    await adapter._follow_persona_name(SimpleNamespace(id=999, me=None))
    assert len(looked_up) == 1_000  # a recent server's name is kept
    await adapter._follow_persona_name(SimpleNamespace(id=0, me=None))
    assert looked_up[-1] == "0" and len(looked_up) == 1_001  # evicted: looked up again
    time.now += 60  # the names expire: every server is looked up afresh
    assert list(adapter._nicknames) == []
    await adapter._follow_persona_name(SimpleNamespace(id=999, me=None))
    assert looked_up[-1] == "999" and len(looked_up) == 1_002


async def test_discord_interactions_and_their_answer_locks_are_bounded_and_expire(
    discord_time: Any,
) -> None:
    from adapters.discord.perform import INTERACTION_TTL

    adapter, time = discord_time
    performer = adapter.performer
    for n in range(1_000):  # far more interactions (and presses) than the bound
        performer.remember(SimpleNamespace(id=n))
        performer.answering(str(n))
        performer.answering(f"press{n}")  # a press answered that was never remembered
        assert len(performer._interactions) <= 40 and len(performer._answering) <= 40
    assert performer.interaction("999").id == 999 and performer.interaction("0") is None
    lock = performer.answering("999")
    async with lock:  # the same lock while the interaction lives: answers take turns
        assert performer.answering("999") is lock and lock.locked()
    time.now += INTERACTION_TTL  # tokens last 15 minutes: all of it goes
    assert performer.interaction("999") is None
    assert list(performer._interactions) == [] and list(performer._answering) == []
    assert performer.answering("999") is not lock  # a fresh lock if ever asked again
