"""At-least-once intake inside the dispatcher: recorded events survive a kill and are handled
again from their stored JSON without bookkeeping twice and without paying twice; a platform
that cannot be paused keeps a bounded backlog in memory and the rest in the database."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import bot.dispatch
from bot.context import Context
from bot.features import Feature
from storage.checkins import CheckIn
from storage.members import Member
from storage.updates import ProcessedUpdate
from tests.handlers.test_dispatch import custom
from tests.support import PLATFORM, Harness


class Seen:
    """Chats whose ``/hold`` started, in order; ``reach(n)`` waits for the n-th."""

    def __init__(self) -> None:
        self.chats: list[str] = []
        self._changed = asyncio.Condition()

    async def add(self, chat: str) -> None:
        async with self._changed:
            self.chats.append(chat)
            self._changed.notify_all()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: len(self.chats) >= count)


def holding(gate: asyncio.Event, seen: Seen | None = None) -> Feature:
    """``/hold`` waits for ``gate`` (a handler still working when the process dies)."""
    feature = Feature("hold")

    @feature.command("hold")
    async def hold(ctx: Context) -> None:
        if seen is not None:
            await seen.add(ctx.event.chat.id)
        await gate.wait()

    return feature


async def kill(h: Harness) -> None:
    """As SIGKILL leaves it: nothing more runs, nothing more is written."""
    dispatcher = h.dispatcher
    tasks = [*dispatcher._workers.values(), *(lane.task for lane in dispatcher._lanes.values())]
    tasks += [t for t in (dispatcher._stamper, dispatcher._recording) if t is not None]
    for task in tasks:
        if task is not None:
            task.cancel()
    await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)


async def unhandled(h: Harness) -> int:
    async with h.store.transaction() as s:
        query = select(func.count()).where(ProcessedUpdate.handled_at.is_(None))
        return int((await s.execute(query.select_from(ProcessedUpdate))).scalar_one())


async def test_a_killed_run_is_handled_again_without_bookkeeping_or_paying_twice(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.dispatch, "STAMP_DELAY", 60.0)  # the kill comes before any stamp
    gate = asyncio.Event()
    first = custom(any_harness, holding(gate))
    first.adapter.admins.add(("g2", "id-alice"))
    await first.send(first.join("Bob", chat="g2"))
    await first.send(first.message("hello", user="Bob", chat="g1"))
    await first.dispatcher.flush()
    recorded_at = first.clock.now()
    first.adapter.actions.clear()
    given = asyncio.Event()
    first.dispatcher.observers.append(
        lambda event, _results: given.set() if event.update_key == "k-give" else None
    )
    # g1: a handler still working, a check-in behind it; g2: a grant handled and answered,
    # its handled-stamp not yet written when the process dies.
    await first.dispatcher.intake(
        [
            first.message("/hold", chat="g1", key="k-hold"),
            first.message("签到", user="Bob", chat="g1", key="k-checkin"),
            first.message("/give @Bob 100", chat="g2", key="k-give"),
        ]
    )
    await asyncio.wait_for(given.wait(), 30)  # the grant answered
    await kill(first)
    assert await unhandled(first) == 3

    first.clock.advance(timedelta(hours=1))
    gate.set()
    second = custom(any_harness, holding(gate))
    second.adapter.admins.add(("g2", "id-alice"))
    await second.dispatcher.replay(PLATFORM)
    await second.dispatcher.drain()
    await second.dispatcher.flush()

    texts = [a.text.plain() for a in second.adapter.actions if hasattr(a, "text")]
    assert len(texts) == 2  # the check-in answered; the grant answered again (policy)
    assert await unhandled(second) == 0
    async with second.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(CheckIn))).scalar_one() == 1
        bob = (await s.execute(select(Member).where(Member.platform_user_id == "id-bob"))).scalars()
        assert {m.last_active_at for m in bob} - {None} == {recorded_at}  # not bookkept again
        g2 = await second.store.communities.find(s, PLATFORM, "g2")
        assert g2 is not None
        members = await second.store.members.find(s, g2.id, "id-bob")
        assert members is not None
        assert await second.store.ledger.balance(s, g2.id, f"m:{members.id}") == 100
        assert await second.store.ledger.verify(s) == []
        kept = (await s.execute(select(ProcessedUpdate.event))).scalars().all()
        assert all(event is None for event in kept)  # handled: the JSON is not kept

    # Nothing is left: a further start replays nothing.
    second.adapter.actions.clear()
    await second.dispatcher.replay(PLATFORM)
    await second.dispatcher.drain()
    assert second.adapter.actions == []


async def test_an_unpausable_platform_keeps_its_backlog_bounded(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    gate = asyncio.Event()
    seen = Seen()
    h = custom(harness, holding(gate, seen))
    h.dispatcher.limits[PLATFORM] = 10
    futures = [h.dispatcher.submit(h.message("/hold", chat=f"c{n}")) for n in range(40)]
    assert h.dispatcher._recording is not None
    await h.dispatcher._recording
    assert await unhandled(h) == 40  # every one recorded...
    assert h.dispatcher.pending(PLATFORM) == 10  # ...ten of them in memory
    assert not any(f.done() for f in futures[:20])  # ten more wait in the database...
    assert all(f.done() for f in futures[20:])  # ...with their futures; beyond, none waits
    await seen.reach(10)
    await asyncio.sleep(0.2)  # a chance for an eleventh to start, if the bound leaked
    assert len(seen.chats) == 10
    gate.set()
    await seen.reach(40)
    await h.dispatcher.drain()
    await h.dispatcher.flush()
    assert sorted(seen.chats[:10]) == sorted(f"c{n}" for n in range(10))  # those first
    assert sorted(seen.chats) == sorted(f"c{n}" for n in range(40))  # then the rest, once
    assert all(f.done() and not f.cancelled() for f in futures[:20])
    assert await unhandled(h) == 0

    # Recording that cannot keep up: what is beyond the bound is dropped, and counted.
    h.dispatcher.unrecorded_limits[PLATFORM] = 5
    with caplog.at_level(logging.ERROR):
        for n in range(8):
            h.dispatcher.submit(h.message("hi", chat="c0", key=f"drop-{n}"))
        await h.dispatcher.drain()
    assert "3 events were dropped unrecorded" in caplog.text


async def test_a_grab_handled_again_after_a_kill_pays_once(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.redpackets import RedPacketShare
    from tests.handlers.test_redpacket import balance, books_balance, fund, packet_of

    monkeypatch.setattr(bot.dispatch, "STAMP_DELAY", 60.0)  # the kill comes before any stamp
    h = any_harness
    await fund(h, "Alice", 500)
    await h.send(h.join("Bob"))
    _sent, button = packet_of(await h.send(h.message("发红包 100 3 恭喜")))
    await h.dispatcher.flush()
    h.adapter.actions.clear()
    grabbed = asyncio.Event()
    h.dispatcher.observers.append(
        lambda event, _results: grabbed.set() if event.update_key == "k-grab" else None
    )
    await h.dispatcher.intake(
        [h.press(button.data, user="Bob").model_copy(update={"update_key": "k-grab"})]
    )
    await asyncio.wait_for(grabbed.wait(), 30)  # the grab answered, not marked handled
    share = await balance(h, "Bob")
    assert share > 0
    await kill(h)
    assert await unhandled(h) == 1

    again = Harness(store=h.store, settings=h.settings, clock=h.clock)
    await again.dispatcher.replay(PLATFORM)
    await again.dispatcher.drain()
    await again.dispatcher.flush()
    assert again.adapter.actions  # answered again ("already grabbed"), nothing paid
    assert await balance(again, "Bob") == share
    async with h.store.transaction() as s:
        taken = select(func.count()).where(RedPacketShare.member_id.is_not(None))
        shares = (await s.execute(taken.select_from(RedPacketShare))).scalar_one()
    assert shares == 1  # one share taken, by Bob, once
    await books_balance(again)
    assert await unhandled(again) == 0


async def test_a_database_closed_under_the_dispatcher_gets_its_last_stamps_first(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program that closes the database without ``flush`` (a test fixture, an embedding
    application) leaves no stamp write in flight: the waiting stamps are written first."""
    monkeypatch.setattr(bot.dispatch, "STAMP_DELAY", 3600.0)  # no timer runs out meanwhile
    monkeypatch.setattr(bot.dispatch, "QUIET_STAMP_DELAY", 3600.0)
    h = any_harness
    await h.send(h.message("签到"))
    await h.send(h.message("just chatting"))
    assert h.dispatcher._stamper is not None  # the check-in's stamp waits for its batch
    assert h.dispatcher._quiet_stamps  # the chatter's waits for a ride
    await h.store.db.dispose()
    assert h.dispatcher._stamper is None and not h.dispatcher._stamps
    assert not h.dispatcher._quiet_stamps
    assert await unhandled(h) == 0  # the engine opens again for this read


async def take_in(h: Harness, *events: object) -> None:
    """As the Telegram loop takes a page in: recorded with the events kept, then handled."""
    await h.dispatcher.intake(list(events))  # type: ignore[arg-type]
    await h.dispatcher.drain()


async def test_quiet_chatter_is_stamped_by_the_next_write_not_one_of_its_own(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain chatter (no command, keyword, button or listener; no action) is quiet: handling
    it again would repeat nothing, so its stamp rides along with the next recording instead
    of a write of its own. Anything that acts is stamped on the timer as before."""
    # No timer may run out between two steps of a slow run: the quiet one is run by hand.
    monkeypatch.setattr(bot.dispatch, "STAMP_DELAY", 3600.0)
    monkeypatch.setattr(bot.dispatch, "QUIET_STAMP_DELAY", 3600.0)
    h = any_harness
    await take_in(h, h.message("just chatting", key="k1"))
    await h.dispatcher.flush(quiet=False)  # what the timer writes: nothing for chatter
    assert await unhandled(h) == 1
    assert h.dispatcher._stamper is None
    await take_in(h, h.message("签到", key="k2"))  # recorded: the chatter's stamp rides along
    assert [a for a in h.adapter.actions if hasattr(a, "text")]
    assert await unhandled(h) == 1  # only the check-in waits now: it acted
    await h.dispatcher.flush(quiet=False)
    assert await unhandled(h) == 0
    await take_in(h, h.message("more chatter", key="k3"))
    await h.dispatcher.flush()  # shutdown's flush writes quiet stamps too
    assert await unhandled(h) == 0 and not h.dispatcher._quiet_stamps
    # Left alone, a quiet stamp is written once its timer (QUIET_STAMP_DELAY) runs out.
    await take_in(h, h.message("the last word", key="k4"))
    timer = h.dispatcher._quiet_timer
    assert timer is not None
    due = timer.when() - asyncio.get_running_loop().time()
    assert bot.dispatch.QUIET_STAMP_DELAY - 1 < due <= bot.dispatch.QUIET_STAMP_DELAY
    timer._run()  # as the loop runs it when it is due
    await h.dispatcher.flush(quiet=False)
    assert await unhandled(h) == 0 and h.dispatcher._quiet_timer is None


async def test_a_killed_quiet_event_is_handled_again_harmlessly(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill before a quiet event's stamp rode along leaves it to the replay, which only
    runs the middleware checks again: nothing is answered, nothing written twice."""
    monkeypatch.setattr(bot.dispatch, "QUIET_STAMP_DELAY", 3600.0)
    first = any_harness
    await take_in(first, first.message("just chatting", key="k1"))
    await first.dispatcher.flush(quiet=False)
    assert await unhandled(first) == 1
    await kill(first)
    again = custom(first)
    await again.dispatcher.replay(PLATFORM)
    await again.dispatcher.drain()
    await again.dispatcher.flush()
    assert again.adapter.actions == []
    assert await unhandled(again) == 0


async def test_an_event_stamped_while_the_loader_reads_is_not_handled_twice(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader's read may run on a snapshot from before an event's handled-stamp commits,
    and the event leaves the in-flight set once it does: the loader must still skip it."""
    gate, seen = asyncio.Event(), Seen()
    gate.set()
    h = custom(any_harness, holding(gate, seen))
    await h.dispatcher.handle(h.message("/hold", chat="c1"))  # from memory; the stamp waits
    assert seen.chats == ["c1"] and await unhandled(h) == 1
    updates = h.store.updates
    read = updates.unhandled

    async def read_then_stamp(session: Any, platform: str, *, limit: int) -> Any:
        rows = await read(session, platform, limit=limit)  # still shows c1 unhandled
        await h.dispatcher.flush()  # meanwhile its stamp commits and it is released
        return rows

    monkeypatch.setattr(updates, "unhandled", read_then_stamp)
    await h.dispatcher.replay(PLATFORM)
    await h.dispatcher.drain()
    assert seen.chats == ["c1"]  # handled once
    assert await unhandled(h) == 0
