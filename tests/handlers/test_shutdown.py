"""A stop stores what still waits in the outbound queues, and a restart sends it: none lost,
none twice, on SQLite and PostgreSQL. The governor's clock is virtual and, during the stop,
held: a chat whose window is full, or a send in backoff during an outage, stays waiting
exactly as it would while a real minute passes, and nothing sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any

import pytest

from bot.actions import (
    Action,
    ActionResult,
    AnswerButton,
    Ban,
    Delete,
    Edit,
    Kick,
    Reply,
    Restrict,
    Send,
)
from bot.context import Context
from bot.dispatch import ANSWERS_AT_ONCE
from bot.features import Feature
from bot.governor import Governor, Limits, Transient
from bot.richtext import RichText
from handlers import all_features
from tests.support import PLATFORM, FakeAdapter, Harness


class Clock:
    """The governor's clock: waits move it, unless it is held (then they never end)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.held = False

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        if self.held:
            await asyncio.get_running_loop().create_future()  # until the stop cancels it
        self.now += max(seconds, 0.0)


class Platform(FakeAdapter):
    """Records what was performed; ``down`` answers every call with a 5xx; ``stuck`` kinds
    never get an answer (a request on the wire when the stop comes)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.stuck: set[str] = set()
        self.refused = 0
        self.refusing = asyncio.Event()
        #: Kinds whose answer waits until ``opened`` is set.
        self.gated: set[str] = set()
        self.opened = asyncio.Event()

    async def perform(self, action: Action) -> ActionResult:
        if action.kind in self.stuck:
            await asyncio.get_running_loop().create_future()
        if action.kind in self.gated:
            await self.opened.wait()
        if self.down:
            self.refused += 1
            self.refusing.set()
            raise Transient("502 Bad Gateway")
        return await super().perform(action)


def run(harness: Harness, *features: Feature) -> tuple[Harness, Platform, Clock]:
    """A bot process on the harness's database: its own dispatcher, platform and governor."""
    clock = Clock()
    platform = Platform()
    h = Harness(
        store=harness.store,
        settings=harness.settings,
        clock=harness.clock,
        adapter=platform,
        features=[*all_features(), *features] if features else None,
    )
    h.dispatcher.attach(
        platform,
        Governor(Limits(), monotonic=clock.monotonic, sleep=clock.sleep),  # type: ignore[arg-type]
    )
    return h, platform, clock


async def stored(h: Harness) -> int:
    async with h.store.transaction() as session:
        return await h.store.waiting.count(session)


async def all_handled(dispatcher: Any) -> None:
    """Until every submitted event is recorded and handled (its answers may still wait)."""
    while busy := [t for t in (dispatcher._recording, *dispatcher._workers.values()) if t]:
        await asyncio.gather(*busy)


def deadline(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


def names_in(platforms: list[Platform], names: list[str]) -> dict[str, int]:
    text = "\n".join(t for p in platforms for t in p.texts())
    return {name: text.count(name) for name in names}


async def test_a_stop_in_the_middle_of_100_check_ins_loses_none(any_harness: Harness) -> None:
    first, platform, clock = run(any_harness)
    early = [f"W{n:02d}" for n in range(20)]
    members = [f"M{n:03d}" for n in range(100)]
    for name in early + members:
        await first.dispatcher.handle(first.join(name))
    platform.actions.clear()
    clock.now += 3600.0  # the welcomes' minute is over
    # 20 answers fill the group's window (20 a minute); the 100 then wait for a slot.
    for name in early:
        await first.dispatcher.handle(first.message("签到", user=name))
    assert len(platform.actions) == 20
    clock.held = True
    futures = [first.dispatcher.submit(first.message("签到", user=name)) for name in members]
    await all_handled(first.dispatcher)  # all handled, none sent
    started = asyncio.get_running_loop().time()

    assert await first.dispatcher.persist_waiting(deadline(30.0)) == 100
    # Nothing on the wire: no grace waited for (a call on the wire would be given a third of
    # the time left, 10 s). Storing 100 rows takes well under a second on a quiet machine,
    # more on a loaded one: the bound tells a grace from work.
    assert asyncio.get_running_loop().time() - started < 5.0
    results = await asyncio.wait_for(asyncio.gather(*futures), 5)
    assert all(r.is_persisted for [r] in results)  # each update counts as handled
    assert len(platform.actions) == 20
    assert await stored(first) == 100  # the members' own replies, not a merged message

    second, again, _clock = run(any_harness)
    assert await second.dispatcher.restore_waiting(PLATFORM) == 100
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert names_in([platform, again], members) == dict.fromkeys(members, 1)
    assert 1 <= len(again.actions) <= 3  # waiting replies merge again after the restart
    assert await stored(second) == 0


async def test_an_outage_during_the_stop_is_stored_and_sent_after(any_harness: Harness) -> None:
    first, platform, clock = run(any_harness)
    members = [f"M{n:02d}" for n in range(30)]
    for name in members:
        await first.dispatcher.handle(first.join(name))
    platform.actions.clear()
    platform.down = True
    clock.held = True  # the backoff after the first 502 outlasts the stop
    futures = [first.dispatcher.submit(first.message("签到", user=name)) for name in members]
    await all_handled(first.dispatcher)

    assert await first.dispatcher.persist_waiting(deadline(5.0)) == 30
    assert platform.refused >= 1 and platform.actions == []
    await asyncio.wait_for(asyncio.gather(*futures), 5)

    second, again, _clock = run(any_harness)
    await second.dispatcher.restore_waiting(PLATFORM)
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert names_in([again], members) == dict.fromkeys(members, 1)
    assert await stored(second) == 0


async def test_what_is_stored_and_what_is_not(any_harness: Harness) -> None:
    first, platform, _clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    platform.stuck = {"reply", "delete"}
    on_wire = first.dispatcher.enqueue(Reply(**here, text=RichText.of("on the wire")))
    behind = first.dispatcher.enqueue(Reply(**here, text=RichText.of("behind it")))
    delete = first.dispatcher.enqueue(Delete(**here, message_id="5"))
    press = first.dispatcher.enqueue(AnswerButton(**here, press_id="p1"))  # behind the delete
    await asyncio.sleep(0)  # let the lanes start their calls

    started = asyncio.get_running_loop().time()
    assert await first.dispatcher.persist_waiting(deadline(0.4)) == 2
    assert asyncio.get_running_loop().time() - started < 1.0
    # A send cut off on the wire may have arrived: not sent again (as after a timeout).
    assert not on_wire.result().ok and on_wire.result().detail == "unsure"
    assert behind.result().is_persisted
    assert delete.result().is_persisted  # deleting twice changes nothing: kept
    assert press.result().detail == "stopped"  # a press answered after a restart means nothing
    assert not (await first.dispatcher.enqueue(Reply(**here, text=RichText.of("late")))).ok

    second, again, _clock = run(any_harness)
    await second.dispatcher.restore_waiting(PLATFORM)
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert again.texts() == ["behind it"]
    assert [a.kind for a in again.actions] == ["reply", "delete"]


async def test_restored_then_stopped_again_is_stored_once(any_harness: Harness) -> None:
    first, platform, clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    now = first.clock.now()
    platform.down = clock.held = True
    for n in range(25):
        first.dispatcher.enqueue(Reply(**here, text=RichText.of(f"reply {n}")))
    first.dispatcher.enqueue(Restrict(**here, user_id="7", until=now + timedelta(seconds=10)))
    first.dispatcher.enqueue(Ban(**here, user_id="8", until=now + timedelta(days=1)))
    await asyncio.sleep(0)
    assert await first.dispatcher.persist_waiting(deadline(5.0)) == 27
    assert platform.actions == []

    second, platform, clock = run(any_harness)
    clock.held = True  # the window takes 20 replies; 5 still wait at the next stop
    # The mute ends before the restart is over: Telegram would read it as "forever".
    assert await second.dispatcher.restore_waiting(PLATFORM) == 26
    await asyncio.sleep(0)
    assert await second.dispatcher.persist_waiting(deadline(5.0)) == 0  # stored already
    assert sorted(a.kind for a in platform.actions) == ["ban", *["reply"] * 20]
    assert await stored(second) == 5  # the rows of what went out are deleted

    third, last, _clock = run(any_harness)
    assert await third.dispatcher.restore_waiting(PLATFORM) == 5
    await asyncio.wait_for(third.dispatcher.drain(), 10)
    assert platform.texts() + last.texts() == [f"reply {n}" for n in range(25)]
    assert last.actions and all(a.kind == "reply" for a in last.actions)
    assert await stored(third) == 0


async def test_a_database_that_cannot_store_loses_them_loudly(
    any_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    first, _platform, clock = run(any_harness)
    clock.held = True
    here = {"platform": PLATFORM, "chat_id": "g1"}
    sent = [first.dispatcher.enqueue(Reply(**here, text=RichText.of(f"r{n}"))) for n in range(25)]
    await asyncio.sleep(0)

    async def refuse(*_args: object) -> list[int]:
        raise OSError("disk full")

    first.store.waiting.save = refuse  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        assert await first.dispatcher.persist_waiting(deadline(5.0)) == 0
    assert "5 waiting action(s) could not be stored: lost" in caplog.text
    lost = [f.result() for f in sent[20:]]
    assert all(not r.ok and r.detail == "lost" for r in lost)  # never reported as stored


async def test_a_handler_waiting_for_its_post_goes_on_and_its_answer_is_stored(
    any_harness: Harness,
) -> None:
    """A handler that needs its message's id (a poll, a red packet) hears "stored" and
    finishes, instead of being cut off half-way; what it answers then is stored too."""
    feature = Feature("post")
    heard: list[ActionResult] = []

    @feature.command("post")
    async def post(ctx: Context) -> Reply:
        here = {"platform": ctx.event.platform, "chat_id": ctx.event.chat.id}
        heard.append(await ctx.perform(Send(**here, text=RichText.of("the post"))))
        return ctx.reply_text(RichText.of("posted"))

    first, platform, clock = run(any_harness, feature)
    platform.down = clock.held = True
    handled = first.dispatcher.submit(first.message("/post"))
    await asyncio.wait_for(platform.refusing.wait(), 5)  # the post met the outage

    assert await first.dispatcher.persist_waiting(deadline(5.0)) == 2
    assert [r.is_persisted for r in heard] == [True]
    [result] = await asyncio.wait_for(handled, 5)  # handled, not cancelled
    assert result.is_persisted

    second, again, _clock = run(any_harness)
    await second.dispatcher.restore_waiting(PLATFORM)
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert again.texts() == ["the post", "posted"]


async def test_a_throttled_bot_stops_sending_at_once(any_harness: Harness) -> None:
    """The group's window is full for the next minute: no waiting reply can go out before the
    sending deadline, so the stop stores them at once instead of waiting the slice out."""
    first, platform, clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    clock.held = True  # the window's minute never passes during the stop
    sent = [first.dispatcher.enqueue(Reply(**here, text=RichText.of(f"r{n}"))) for n in range(25)]
    await asyncio.wait_for(asyncio.gather(*sent[:20]), 5)  # 20 a minute; 5 wait
    loop = asyncio.get_running_loop()

    started = loop.time()
    assert await first.dispatcher.drain(deadline(5.0)) is False
    assert loop.time() - started < 1.0  # not the 5 s of the slice
    assert await first.dispatcher.persist_waiting(deadline(2.0)) == 5
    assert len(platform.actions) == 20 and all(s.result().is_persisted for s in sent[20:])


async def test_a_slot_that_opens_before_the_deadline_is_waited_for(any_harness: Harness) -> None:
    """A chat paused by a 429 for less than the time left still sends before the deadline:
    the drain waits for it (here the virtual pause never ends, so it waits the slice out)."""
    first, _platform, clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    await first.dispatcher.perform(Reply(**here, text=RichText.of("first")))
    clock.held = True
    first.dispatcher.governors[PLATFORM]._chat(f"{PLATFORM}:g1").paused_until = clock.now + 0.2
    late = first.dispatcher.enqueue(Reply(**here, text=RichText.of("late")))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()

    started = loop.time()
    assert await first.dispatcher.drain(deadline(0.6)) is False
    assert loop.time() - started >= 0.5  # not given up early: the slot opens in time
    assert await first.dispatcher.persist_waiting(deadline(2.0)) == 1
    assert late.result().is_persisted


async def test_stored_actions_go_before_what_was_asked_since_the_restart(
    any_harness: Harness,
) -> None:
    """After a restart the platform delivers the updates that arrived meanwhile at once: the
    replies to them queue up while the stored rows load. The stored ones were asked for
    first, so they go first (after the one call already on the wire)."""
    first, _platform, clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    _platform.down = clock.held = True
    for n in range(3):
        first.dispatcher.enqueue(Reply(**here, text=RichText.of(f"stored {n}")))
    await asyncio.sleep(0)
    assert await first.dispatcher.persist_waiting(deadline(5.0)) == 3

    second, again, _clock = run(any_harness)
    again.gated = {"edit"}
    on_wire = second.dispatcher.enqueue(Edit(**here, message_id="9", text=RichText.of("edit")))
    await asyncio.sleep(0)  # the edit is on the wire
    new = [second.dispatcher.enqueue(Reply(**here, text=RichText.of(f"new {n}"))) for n in range(2)]
    assert await second.dispatcher.restore_waiting(PLATFORM) == 3
    again.opened.set()
    await asyncio.wait_for(asyncio.gather(on_wire, *new), 10)
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert again.texts() == ["edit", "stored 0", "stored 1", "stored 2", "new 0", "new 1"]
    assert await stored(second) == 0


async def test_an_answer_queued_while_the_first_rows_are_written_is_stored(
    any_harness: Harness,
) -> None:
    """A slow handler that finishes while the stop writes the first rows (its worker gone by
    the time the stop looks for workers): its answer is stored too, never left in a queue
    that nothing sends or stores."""
    feature = Feature("slow")
    entered, release = asyncio.Event(), asyncio.Event()

    @feature.command("slow")
    async def slow(ctx: Context) -> Reply:
        entered.set()
        await release.wait()
        return ctx.reply_text(RichText.of("slow answer"))

    first, platform, clock = run(any_harness, feature)
    here = {"platform": PLATFORM, "chat_id": "elsewhere"}
    platform.down = clock.held = True
    early = first.dispatcher.enqueue(Reply(**here, text=RichText.of("early")))
    handled = first.dispatcher.submit(first.message("/slow"))
    await asyncio.wait_for(entered.wait(), 5)
    [worker] = first.dispatcher._workers.values()
    save = first.store.waiting.save

    async def save_after_the_handler(*args: Any) -> list[int]:
        release.set()
        await asyncio.wait_for(asyncio.shield(worker), 5)  # it answered and went
        return await save(*args)

    first.store.waiting.save = save_after_the_handler  # type: ignore[method-assign]
    assert await first.dispatcher.persist_waiting(deadline(5.0)) == 2
    assert early.result().is_persisted
    [result] = await asyncio.wait_for(handled, 5)
    assert result.is_persisted

    second, again, _clock = run(any_harness)
    await second.dispatcher.restore_waiting(PLATFORM)
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert sorted(again.texts()) == ["early", "slow answer"]


async def test_a_stored_time_without_a_zone_never_stops_the_restart(any_harness: Harness) -> None:
    """An ``until`` without a zone (an older writer, a hand-made row) reads as UTC: compared
    with the clock's aware time it would raise, and the bot could not start again."""
    first, _platform, _clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    now = first.clock.now().astimezone(UTC).replace(tzinfo=None)
    async with first.store.transaction() as session:
        await first.store.waiting.save(
            session,
            [
                Restrict(**here, user_id="7", until=now + timedelta(seconds=5)),  # expired
                Ban(**here, user_id="8", until=now + timedelta(days=1)),
            ],
            first.clock.now(),
        )

    second, again, _clock = run(any_harness)
    assert await second.dispatcher.restore_waiting(PLATFORM) == 1
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert [a.kind for a in again.actions] == ["ban"]
    assert await stored(second) == 0


async def test_a_database_that_hangs_does_not_hold_the_stop(
    any_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The write times out, and the rollback on a connection that does not answer hangs too
    (SQLAlchemy runs a session's close to completion whatever cancels it): the stop still
    ends by its deadline, the rows reported lost, never a stop the supervisor has to kill."""
    first, _platform, clock = run(any_harness)
    clock.held = True
    here = {"platform": PLATFORM, "chat_id": "g1"}
    sent = [first.dispatcher.enqueue(Reply(**here, text=RichText.of(f"r{n}"))) for n in range(22)]
    await asyncio.sleep(0)
    never = asyncio.get_running_loop().create_future()

    @contextlib.asynccontextmanager
    async def hung() -> AsyncIterator[None]:
        try:
            yield None
        finally:
            while not never.done():  # the rollback: no answer, and no cancel cuts it short
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(never)

    async def write(*_args: object) -> list[int]:
        await asyncio.shield(never)
        return []

    first.store.transaction = hung  # type: ignore[method-assign]
    first.store.waiting.save = write  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.ERROR):
        stopping = asyncio.ensure_future(first.dispatcher.persist_waiting(deadline(0.5)))
        try:
            done, _ = await asyncio.wait([stopping], timeout=3)
        finally:
            never.cancel()  # the connection answers at last: nothing is left hanging
    assert done, "the stop hung on the database"
    assert loop.time() - started < 1.0
    assert "2 waiting action(s) could not be stored: lost" in caplog.text
    assert all(s.result().detail == "lost" for s in sent[20:])


async def test_a_handler_still_running_is_waited_for_even_when_throttled(
    any_harness: Harness,
) -> None:
    """One chat is throttled past the deadline, but a handler is still working: its answer
    may go to a chat with room, so the drain does not give up early."""
    feature = Feature("slow")
    release = asyncio.Event()

    @feature.command("slow")
    async def slow(ctx: Context) -> Reply:
        await release.wait()
        return ctx.reply_text(RichText.of("slow answer"))

    first, _platform, clock = run(any_harness, feature)
    here = {"platform": PLATFORM, "chat_id": "busy"}
    clock.held = True
    for n in range(21):  # 20 go out, 1 waits a minute
        first.dispatcher.enqueue(Reply(**here, text=RichText.of(f"r{n}")))
    handled = first.dispatcher.submit(first.message("/slow"))
    loop = asyncio.get_running_loop()

    started = loop.time()
    assert await first.dispatcher.drain(deadline(0.5)) is False
    assert loop.time() - started >= 0.4
    release.set()
    await asyncio.wait_for(handled, 5)
    await first.dispatcher.persist_waiting(deadline(2.0))


async def test_a_kick_cut_off_on_the_wire_is_not_repeated(any_harness: Harness) -> None:
    """A kick is a ban then an unban: if it arrived and the member came back during the
    downtime, kicking again after the restart would throw out someone already let back."""
    first, platform, _clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    platform.stuck = {"kick"}
    kick = first.dispatcher.enqueue(Kick(**here, user_id="7"))
    await asyncio.sleep(0)  # on the wire

    assert await first.dispatcher.persist_waiting(deadline(0.3)) == 0
    assert not kick.result().ok and kick.result().detail == "unsure"
    assert await stored(first) == 0


async def test_a_stop_during_a_run_of_button_answers_keeps_what_follows_them(
    any_harness: Harness,
) -> None:
    """Button answers go out side by side; a stop while they are on the wire cuts them off
    (a press answered after a restart means nothing) within the deadline, and stores the ban
    queued behind them."""
    first, platform, _clock = run(any_harness)
    here = {"platform": PLATFORM, "chat_id": "g1"}
    platform.stuck = {"answer_button"}
    presses = [
        first.dispatcher.enqueue(AnswerButton(**here, press_id=f"p{n}"))
        for n in range(ANSWERS_AT_ONCE + 10)
    ]
    ban = first.dispatcher.enqueue(Ban(**here, user_id="8"))
    await asyncio.sleep(0)  # the lane starts the run
    await asyncio.sleep(0)

    started = asyncio.get_running_loop().time()
    assert await first.dispatcher.persist_waiting(deadline(0.4)) == 1
    assert asyncio.get_running_loop().time() - started < 1.0
    assert {press.result().detail for press in presses} == {"stopped"}
    assert ban.result().is_persisted

    second, again, _clock = run(any_harness)
    await second.dispatcher.restore_waiting(PLATFORM)
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    assert [a.kind for a in again.actions] == ["ban"]
